import { existsSync } from 'node:fs';
import { modelMissingError } from '../models/model-missing.js';
import type { ModelLibrary } from '../models/model-library.js';
import { PerpetuaError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import { toRowId } from '../store/row-id.js';
import { modelSampling } from './generation-settings.js';
import { PersistentChat, type RestoreReport } from './persistent-chat.js';
import { SessionRunner, type AnswerDefaults } from './session-runner.js';

export interface SessionDirectoryOptions {
  /** answer length and prefill chunk where a chat sets nothing; sampling comes from each session's model */
  defaults: Omit<AnswerDefaults, 'sampling'>;
  /** how each session came back when it was opened (a refused snapshot is worth telling the user) */
  onRestore?: (sessionId: number, report: RestoreReport) => void;
}

/**
 * The open sessions: each is opened once (its model loaded, its cache restored) however many requests ask for
 * it at the same time, and runs on its own SessionRunner until it is closed.
 */
export class SessionDirectory {
  private readonly open = new Map<number, Promise<SessionRunner>>();

  constructor(
    private readonly store: Store,
    private readonly library: ModelLibrary,
    private readonly opts: SessionDirectoryOptions,
  ) {}

  /** The runner of a session, opening it on first use. */
  runner(id: string | number): Promise<SessionRunner> {
    let sessionId: number;
    try {
      sessionId = toRowId(id, 'session');
    } catch (e) {
      return Promise.reject(e);
    }
    let runner = this.open.get(sessionId);
    if (!runner) {
      runner = this.openSession(sessionId);
      runner.catch(() => this.open.delete(sessionId));
      this.open.set(sessionId, runner);
    }
    return runner;
  }

  /** The runner of a session that is open (or opening), without opening it. */
  async ifOpen(id: string | number): Promise<SessionRunner | null> {
    return (await this.open.get(toRowId(id, 'session'))?.catch(() => null)) ?? null;
  }

  /** Closes a session: what it runs is stopped and waited for, its cache released. */
  async close(id: string | number): Promise<void> {
    const sessionId = toRowId(id, 'session');
    const runner = this.open.get(sessionId);
    this.open.delete(sessionId);
    await (await runner?.catch(() => null))?.close();
  }

  /** Closes the sessions that run on the model in `dir` (they reopen on its new provider). */
  async closeModel(dir: string): Promise<void> {
    for (const [id, runner] of [...this.open]) {
      const r = await runner.catch(() => null);
      if (!r || r.chat.engine.model.dir === dir) await this.close(id);
    }
  }

  async closeAll(): Promise<void> {
    // each session closes whatever another's close does (allSettled: one failing does not leave the rest open)
    const results = await Promise.allSettled([...this.open.keys()].map((id) => this.close(id)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async openSession(sessionId: number): Promise<SessionRunner> {
    const row = this.store.getSession(sessionId);
    if (!row) throw new PerpetuaError('That session does not exist any more.', { code: 'not_found' });
    const modelRow = this.library.row(row.modelId);
    // a chat never runs on a model that is not there: typed, so the app opens it read-only instead
    if (!existsSync(modelRow.dir)) throw modelMissingError(modelRow.name, modelRow.dir);
    const model = await this.library.load(modelRow);
    const chat = await PersistentChat.open(this.store, model, { id: row.id, name: row.name });
    this.opts.onRestore?.(row.id, chat.restored);
    return new SessionRunner(chat, { ...this.opts.defaults, sampling: modelSampling(model.dir) });
  }
}
