import { dirname, join, resolve } from 'node:path';
import type { PerpetuaEvent } from '../api/perpetua-api.js';
import { hubOptionsFromEnv, type HubClientOptions } from '../models/hub-client.js';
import { ModelDownloads } from '../models/model-downloads.js';
import { ModelLibrary } from '../models/model-library.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { AbCoordinator } from './ab-coordinator.js';
import { newModelProvider } from './app-settings.js';
import { ApiChats } from './api-chats.js';
import { SessionDirectory } from './session-directory.js';
import { SessionAdmin } from './session-admin.js';

export interface CoreServiceOptions {
  dbFile: string;
  /** folder whose model subfolders are imported at start */
  modelsDir?: string;
  /** most tokens one answer may have */
  maxAnswerTokens?: number;
  /** writable folder for downloaded and converted models (default modelsDir, else models/ beside the database) */
  downloadDir?: string;
  /** Hugging Face endpoint and token (default HF_ENDPOINT, HF_TOKEN) */
  hub?: HubClientOptions;
  /**
   * This is the app's engine: it marks the chats it works on (store/chat-work.ts) and takes at start what the engine
   * before it left marked, the chats it froze or died in. The CLI and other clients leave the marks alone.
   */
  appEngine?: boolean;
}

/** Tokens per prefill run of an answer's prompt (chat and A/B alike). */
export const PREFILL_CHUNK = 256;

/** The parts the core routes to, built once at start and wired to each other. */
export interface CoreParts {
  store: Store;
  library: ModelLibrary;
  downloads: ModelDownloads;
  sessions: SessionDirectory;
  admin: SessionAdmin;
  ab: AbCoordinator;
  apiChats: ApiChats;
}

/** Opens the database and builds the parts; `emit` sends the events that belong to no request. */
export function buildCoreParts(opts: CoreServiceOptions, emit: (e: PerpetuaEvent) => void): CoreParts {
  const store = new Store(openDatabase(resolve(opts.dbFile)));
  // answers a previous core left streaming were cut off: only now, never while this core streams
  store.markInterruptedMessages();
  const maxTokens = opts.maxAnswerTokens ?? 512;
  const downloadDir = resolve(opts.downloadDir ?? opts.modelsDir ?? join(dirname(resolve(opts.dbFile)), 'models'));
  const library = new ModelLibrary(
    store,
    [...(opts.modelsDir ? [opts.modelsDir] : []), downloadDir],
    (dir, err) => emit({ event: 'error', payload: { message: `The folder ${dir} in the models folder is not a model Perpetua can use: ${(err as Error)?.message ?? String(err)}` } }),
    () => newModelProvider(store),
  );
  const downloads = new ModelDownloads({
    dir: downloadDir,
    hub: opts.hub ?? hubOptionsFromEnv(),
    importModel: (dir, hashing) => library.import(dir, undefined, hashing),
    listModels: () => store.listModels().map((m) => ({ id: String(m.id), path: m.dir })),
    onDownload: (payload) => emit({ event: 'download', payload }),
  });
  const ab = new AbCoordinator(store);
  const sessions = new SessionDirectory(store, library, {
    defaults: { chunk: PREFILL_CHUNK, maxTokens },
    onRestore: (sessionId, report) => {
      if (report.refused) emit({ event: 'error', payload: { sessionId: String(sessionId), message: report.refused.reason } });
    },
  });
  const admin = new SessionAdmin(store, library, sessions, ab, maxTokens);
  const apiChats = new ApiChats(store, library, sessions, { chunk: PREFILL_CHUNK, maxTokens, movedOn: (id) => ab.forget(id) });
  return { store, library, downloads, sessions, admin, ab, apiChats };
}
