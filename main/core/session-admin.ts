import { DEFAULT_OPEN_LIMIT } from '../api/limits.js';
import type { ValidParamsOf as P } from '../api/methods.js';
import type { ModelLibrary } from '../models/model-library.js';
import { toSpec } from '../policy/policy.js';
import { encodePolicy } from '../policy/policy-store.js';
import { NotFoundError } from '../store/errors.js';
import { parseRowId } from '../store/row-id.js';
import type { Store } from '../store/store.js';
import type { Session } from '../store/types.js';
import type { AbCoordinator } from './ab-coordinator.js';
import { toApiSession } from './api-mappers.js';
import { generationValues, modelSampling, storedGeneration } from './generation-settings.js';
import type { SessionDirectory } from './session-directory.js';
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
    const session = this.store.createSession({ name: p.name, modelId, policy, policyParams, systemPrompt: p.systemPrompt ?? '' });
    return toApiSession(session, 0);
  }

  async open(p: P<'sessions.open'>) {
    const runner = await this.sessions.runner(p.id);
    const id = runner.sessionId;
    const page = messagePage(this.store, id, Number.MAX_SAFE_INTEGER, p.limit ?? DEFAULT_OPEN_LIMIT);
    return { session: toApiSession(runner.chat.session, messageCount(this.store, id)), ...page, stats: runner.stats() };
  }

  async rename(p: P<'sessions.rename'>) {
    const session = this.store.renameSession(parseRowId(p.id, 'session'), p.name);
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
