import { existsSync } from 'node:fs';
import { DEFAULT_OPEN_LIMIT } from '../api/limits.js';
import type { ValidParamsOf as P } from '../api/methods.js';
import type { ModelLibrary } from '../models/model-library.js';
import { modelMissingError } from '../models/model-missing.js';
import { PerpetuaError } from '../shared/errors.js';
import { fitToContext, toSpec } from '../policy/policy.js';
import { decodePolicy, encodePolicy } from '../policy/policy-store.js';
import { NotFoundError } from '../store/errors.js';
import { parseRowId } from '../store/row-id.js';
import { SessionLocks } from '../store/session-locks.js';
import type { Store } from '../store/store.js';
import type { Session } from '../store/types.js';
import type { AbCoordinator } from './ab-coordinator.js';
import { toApiSession } from './api-mappers.js';
import { generationValues, modelSampling, storedGeneration } from './generation-settings.js';
import type { SessionDirectory } from './session-directory.js';
import { idleStats, readOnlyReason } from './read-only-chat.js';
import { messageCount, messagePage } from './session-queries.js';

/**
 * The session calls that change a chat as a whole — create, open, rename, delete, its generation settings and system
 * prompt — keeping an open session's runner in step with its stored row.
 */
export class SessionAdmin {
  constructor(
    private readonly store: Store,
    private readonly library: ModelLibrary,
    private readonly sessions: SessionDirectory,
    private readonly ab: AbCoordinator,
    /** answer length where a chat sets none (shown as the default) */
    private readonly maxAnswerTokens: number,
  ) {}

  async create(p: P<'sessions.create'>) {
    const { name: policy, params: policyParams } = encodePolicy(toSpec(p.policy));
    const modelId = this.library.row(p.modelId).id;
    const created = this.store.createSession({ name: p.name, modelId, policy, policyParams, systemPrompt: p.systemPrompt ?? '' });
    const session = p.generation ? this.store.updateSessionGeneration(created.id, p.generation) : created;
    return toApiSession(session, 0);
  }

  async open(p: P<'sessions.open'>) {
    const sessionId = parseRowId(p.id, 'session');
    const session = this.store.getSession(sessionId);
    if (!session) throw new NotFoundError('session', sessionId);
    // one already running keeps its loaded model; any other opens read-only while its model folder is gone
    const readOnly = (await this.sessions.ifOpen(sessionId)) ? null : readOnlyReason(this.library, session);
    if (readOnly) {
      const page = messagePage(this.store, sessionId, Number.MAX_SAFE_INTEGER, p.limit ?? DEFAULT_OPEN_LIMIT);
      return { session: toApiSession(session, messageCount(this.store, sessionId)), ...page, stats: idleStats(session), readOnly };
    }
    const runner = await this.sessions.runner(p.id);
    const id = runner.sessionId;
    const page = messagePage(this.store, id, Number.MAX_SAFE_INTEGER, p.limit ?? DEFAULT_OPEN_LIMIT);
    return { session: toApiSession(runner.chat.session, messageCount(this.store, id)), ...page, stats: runner.stats() };
  }

  /**
   * Moves a chat to another model (its own may be missing): what it ran is stopped, the old model's snapshots go, and
   * it reopens on the new model, which re-reads the transcript. Refused (busy) while the chat works.
   */
  async setModel(p: P<'sessions.setModel'>) {
    const sessionId = parseRowId(p.id, 'session');
    const model = this.library.row(p.modelId);
    if (!existsSync(model.dir)) throw modelMissingError(model.name, model.dir);
    const open = await this.sessions.ifOpen(sessionId);
    if (open && open.state !== 'idle') throw new PerpetuaError('This chat is busy; stop it or wait for it to finish, then switch its model.', { code: 'busy' });
    this.ab.forget(sessionId);
    await this.sessions.close(sessionId);
    const session = this.store.updateSessionModel(sessionId, model.id);
    this.store.deleteSnapshots(sessionId);
    // a window sized for the old model's context is cut to the new one's (positions past it were never trained)
    const policy = decodePolicy(session.policy, session.policyParams);
    const fitted = fitToContext(policy, (model.config as { maxPositions?: number }).maxPositions);
    if (fitted.sink !== policy.sink || fitted.window !== policy.window) {
      const { name, params } = encodePolicy(fitted);
      this.store.updateSessionPolicy(sessionId, name, params);
    }
    return this.open({ id: p.id });
  }

  /** Frees the chat from a lock its holder left (session-locks.ts); the next open here takes it. */
  async takeOver(p: P<'sessions.takeOver'>) {
    const sessionId = parseRowId(p.id, 'session');
    const session = this.store.getSession(sessionId);
    if (!session) throw new NotFoundError('session', sessionId);
    new SessionLocks(this.store.db).takeOver(sessionId, session.name);
  }

  async rename(p: P<'sessions.rename'>) {
    const session = this.store.renameSession(parseRowId(p.id, 'session'), p.name);
    const open = await this.sessions.ifOpen(session.id);
    if (open) open.chat.session = session;
    return toApiSession(session, messageCount(this.store, session.id));
  }

  async setPinned(p: P<'sessions.setPinned'>) {
    const session = this.store.setSessionPinned(parseRowId(p.id, 'session'), p.pinned);
    const open = await this.sessions.ifOpen(session.id);
    if (open) open.chat.session = session;
    return toApiSession(session, messageCount(this.store, session.id));
  }

  async delete(p: P<'sessions.delete'>) {
    this.ab.forget(parseRowId(p.id, 'session'));
    await this.sessions.close(p.id); // stops and waits for what it runs
    this.store.deleteSession(parseRowId(p.id, 'session'));
  }

  async settings(p: P<'sessions.settings'>) {
    const id = parseRowId(p.id, 'session');
    const session = this.store.getSession(id);
    if (!session) throw new NotFoundError('session', id);
    return this.chatSettings(session);
  }

  async setGeneration(p: P<'sessions.setGeneration'>) {
    const session = this.store.updateSessionGeneration(parseRowId(p.id, 'session'), p.generation);
    const open = await this.sessions.ifOpen(session.id);
    if (open) open.chat.session = session; // the next answer uses them
    return this.chatSettings(session);
  }

  async setSystemPrompt(p: P<'sessions.setSystemPrompt'>) {
    const runner = await this.sessions.runner(p.id);
    const statement = await runner.setSystemPrompt(p.systemPrompt); // refused at once (busy) when the session is doing something
    this.ab.forget(runner.sessionId);
    return { statement, session: toApiSession(runner.chat.session, messageCount(this.store, runner.sessionId)), stats: runner.stats() };
  }

  private chatSettings(session: Session) {
    const model = modelSampling(this.library.row(session.modelId).dir);
    return { generation: storedGeneration(session.generation), defaults: generationValues(model, this.maxAnswerTokens), systemPrompt: session.systemPrompt };
  }
}
