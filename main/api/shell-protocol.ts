/**
 * Messages between the Electron shell and (a) the preload, over IPC, and (b) the core utility process,
 * over its parent port. The API itself never passes through the shell: the shell hands each window a
 * MessagePort whose other end is in the core.
 */
import { z } from 'zod';
import { CoreRestartedEventSchema, MigrationEventSchema } from './schemas.js';

/** Renderer → main: "give me a port to the core" (sent by the preload on every page load). */
export const IPC_HELLO = 'perpetua:hello';
/** Main → renderer: the port (in event.ports[0]). */
export const IPC_PORT = 'perpetua:port';
/** Main → renderer: the core died and was restarted; a new port follows. */
export const IPC_CORE_RESTARTED = 'perpetua:core-restarted';
/** Main → renderer: the core is upgrading the database before it starts (progress of the step). */
export const IPC_CORE_MIGRATING = 'perpetua:core-migrating';
export const CoreMigratingPayloadSchema = MigrationEventSchema;
/** Main → renderer: the core cannot be (re)started; a sentence for the user. */
export const IPC_CORE_FAILED = 'perpetua:core-failed';

/** Renderer (preload) → main: the page's theme changed; the window's background follows (next start too). */
export const IPC_THEME = 'perpetua:theme';

export const CoreRestartedPayloadSchema = CoreRestartedEventSchema;
export const CoreFailedPayloadSchema = z.object({ message: z.string() });
export const ThemeSchema = z.enum(['light', 'dark']);
export type Theme = z.infer<typeof ThemeSchema>;

/** Shell → core over the parent port: serve the API on the attached port (ports[0]). */
export const CoreConnectMessageSchema = z.object({ type: z.literal('connect'), connectionId: z.number().int() });
export type CoreConnectMessage = z.infer<typeof CoreConnectMessageSchema>;

/** Core → shell over the parent port. */
export const CoreStatusMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('fatal'), message: z.string() }),
  /** upgrading the database before serving (a new search index over every message can take seconds) */
  z.object({ type: z.literal('migrating'), step: z.string(), done: z.number().int(), total: z.number().int() }),
  /** the core's main loop is turning: sent every HEARTBEAT_MS once it serves; the shell restarts a core that stops */
  z.object({ type: z.literal('heartbeat') }),
  /** what the core was just asked (a request arrived), so a freeze that follows is named in the restart sentence */
  /** (and the chat whose model it runs, if it does: that chat is not reopened by itself after a freeze in it) */
  z.object({ type: z.literal('working'), what: z.string().max(300), chatId: z.string().max(40).optional() }),
]);

/** How often the core says it is alive, and how long the shell waits without a word before it restarts the core. */
export const HEARTBEAT_MS = 2000;
export const HEARTBEAT_TIMEOUT_MS = 30_000;
export type CoreStatusMessage = z.infer<typeof CoreStatusMessageSchema>;

/** Command-line flags the shell passes to the core process. */
export interface CoreArgs {
  dbFile: string;
  /** Folder whose model subfolders the core imports at start (the app's bundled models). */
  modelsDir: string;
  /** Writable folder for downloaded and converted models (default modelsDir). */
  downloadDir?: string;
}

export function coreArgv(a: CoreArgs): string[] {
  return [`--db=${a.dbFile}`, `--models=${a.modelsDir}`, ...(a.downloadDir ? [`--downloads=${a.downloadDir}`] : [])];
}

export function parseCoreArgv(argv: readonly string[]): CoreArgs {
  const get = (flag: string) => argv.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);
  const dbFile = get('db');
  const modelsDir = get('models');
  if (!dbFile || !modelsDir) throw new Error('The core needs --db=FILE and --models=DIR.');
  const downloadDir = get('downloads');
  return downloadDir ? { dbFile, modelsDir, downloadDir } : { dbFile, modelsDir };
}

/**
 * Main → preload, as a command-line switch of the renderer process (webPreferences.additionalArguments): the OS's
 * preferred languages (app.getPreferredSystemLanguages()), so the page knows its language before the first paint.
 */
const LANGUAGES_SWITCH = '--perpetua-languages=';
/** BCP 47 tags as the OS gives them ("zh-Hans-CN", "en-US"); anything else is dropped. */
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$/;

export function languagesSwitch(languages: readonly string[]): string {
  return LANGUAGES_SWITCH + languages.filter((l) => LANGUAGE_TAG.test(l)).slice(0, 16).join(',');
}

export function parseLanguagesSwitch(argv: readonly string[]): string[] {
  const arg = argv.find((a) => a.startsWith(LANGUAGES_SWITCH));
  if (!arg) return [];
  return arg.slice(LANGUAGES_SWITCH.length).split(',').filter((l) => LANGUAGE_TAG.test(l)).slice(0, 16);
}

/** Renderer → main (invoke): open the system folder picker; answers a path or null (cancelled). */
export const IPC_PICK_FOLDER = 'perpetua:pick-folder';
export const PickedFolderSchema = z.string().min(1).max(4096).nullable();
/** Renderer → main (invoke): open the system file picker for a conversations file to import; a path or null (cancelled). */
export const IPC_PICK_FILE = 'perpetua:pick-file';

/**
 * Renderer → main (invoke): the app's switch for the OpenAI-compatible server (main/server), which runs in the shell
 * on 127.0.0.1 over the same API as the window. `status` only reads; `apply` stores the settings and starts or stops it.
 */
export const IPC_LOCAL_SERVER = 'perpetua:local-server';
export const LocalServerRequestSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('status') }),
  z.object({
    action: z.literal('apply'),
    enabled: z.boolean(),
    port: z.number().int().min(1).max(65535),
    /** null: no key (loopback only, so any local program may use it) */
    apiKey: z.string().min(1).max(500).nullable(),
  }),
]);
export type LocalServerRequest = z.infer<typeof LocalServerRequestSchema>;
export const LocalServerStatusSchema = z.object({
  enabled: z.boolean(),
  running: z.boolean(),
  port: z.number().int(),
  apiKey: z.string().nullable(),
  /** what clients take as their base URL, e.g. http://127.0.0.1:1234/v1 */
  baseUrl: z.string(),
  /** requests answered since it started */
  requestsSeen: z.number().int().nonnegative(),
  /** why it is not running although enabled (the port is taken, …): a sentence */
  error: z.string().nullable(),
});
export type LocalServerStatus = z.infer<typeof LocalServerStatusSchema>;
