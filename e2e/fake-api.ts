/**
 * A small in-memory PerpetuaApi for UI iteration only (screenshots, renderer development).
 * The e2e tests run against the real CoreService.
 */
import type { CompletionPacket } from '../main/api/completion-schemas.js';
import type { PerpetuaApi, PerpetuaEventListener } from '../main/api/perpetua-api.js';
import type { AbMetrics, AbRun, AbVote } from '../main/api/ab-schemas.js';
import type { AbPacket, ChatPacket, ModelJobPacket, PolicyPacket } from '../main/api/packets.js';
import type { ExecutionProvider, Message, ModelInfo, PolicyConfig, SearchHit, Session, Stats } from '../main/api/schemas.js';
import type { AppSettings, Preset } from '../main/api/settings-schemas.js';
import { summarizeAbRuns } from '../main/core/ab-history.js';

interface FakeSession {
  session: Session;
  messages: Message[];
  cacheFill: number;
  totalTokensSeen: number;
  tokensPerSecond: number;
  running?: { stop: boolean };
  generation?: Record<string, unknown>;
}

const CAPACITY_DENSE = 2048;
const WORDS = 'the sink tokens keep attention stable while the window slides over an endless conversation and nothing is forgotten in the transcript'.split(' ');

export interface FakeApiOptions {
  /** Milliseconds between streamed tokens. */
  tokenDelayMs?: number;
  /** Pre-populate a session with this many messages. */
  seedMessages?: number;
}

export class FakeApi implements PerpetuaApi {
  private listeners = new Set<PerpetuaEventListener>();
  private sessions = new Map<string, FakeSession>();
  private models: ModelInfo[] = [
    { id: 'tiny-llama', name: 'tiny-llama', path: '/models/tiny-llama', architecture: 'llama', maxPositions: 2048, sizeBytes: 3_400_000, provider: 'cpu', availableProviders: ['cpu', 'webgpu'] },
  ];
  private nextId = 1;
  private readonly tokenDelayMs: number;
  private abRuns: AbRun[] = [];
  private deleted = new Map<string, { s: FakeSession; at: number; message: Message }>();
  private appSettings: AppSettings = { policy: null, generation: {}, provider: 'cpu', locale: null, snapshotBudgetBytes: 4 * 2 ** 30 };
  private presets: Preset[] = [];

  constructor(opts: FakeApiOptions = {}) {
    this.tokenDelayMs = opts.tokenDelayMs ?? 15;
    if (opts.seedMessages) {
      const s = this.create('Endless chat', 'tiny-llama', { name: 'sink', sink: 4, window: 1020, pinSystem: true }, 'You are a helpful assistant.');
      for (let i = 0; i < opts.seedMessages; i++) {
        const role = i % 2 === 0 ? 'user' : 'assistant';
        const len = 3 + ((i * 7919) % 60);
        const text = `${i}: ` + Array.from({ length: len }, (_, k) => WORDS[(i + k) % WORDS.length]).join(' ');
        s.messages.push(this.msg(s.session.id, s.messages.length, role, text, 'done'));
      }
      s.session.messageCount = s.messages.length;
      s.totalTokensSeen = s.messages.reduce((a, m) => a + tokens(m.text), 0);
      s.cacheFill = Math.min(capacity(s.session.policy), s.totalTokensSeen);
    }
  }

  subscribe(l: PerpetuaEventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private id(prefix: string): string {
    return `${prefix}${this.nextId++}`;
  }

  private msg(sessionId: string, seq: number, role: Message['role'], text: string, state: Message['state']): Message {
    return { id: this.id('m'), sessionId, seq, role, text, state, createdAt: Date.now() };
  }

  private create(name: string, modelId: string, policy: PolicyConfig, systemPrompt?: string): FakeSession {
    const now = Date.now();
    const session: Session = { id: this.id('s'), name, modelId, policy, systemPrompt: systemPrompt ?? null, createdAt: now, updatedAt: now, messageCount: 0 };
    const s: FakeSession = { session, messages: [], cacheFill: 0, totalTokensSeen: 0, tokensPerSecond: 0 };
    this.sessions.set(session.id, s);
    return s;
  }

  private get(id: string): FakeSession {
    const s = this.sessions.get(id);
    if (!s) throw new Error(`There is no session "${id}".`);
    return s;
  }

  private stats(s: FakeSession): Stats {
    const model = this.models.find((m) => m.id === s.session.modelId);
    const provider: ExecutionProvider = model?.provider ?? 'cpu';
    return {
      sessionId: s.session.id,
      tokensPerSecond: s.tokensPerSecond,
      cacheFill: s.cacheFill,
      cacheCapacity: capacity(s.session.policy),
      kvBytes: s.cacheFill * 2 * 4 * 64 * 4 * 4,
      executionProvider: provider === 'webgpu' ? 'cpu' : provider,
      ...(provider === 'webgpu' ? { providerFallbackReason: 'WebGPU is not available in this build; running on CPU.' } : {}),
      totalTokensSeen: s.totalTokensSeen,
      policy: s.session.policy,
    };
  }

  async modelsList() {
    return this.models;
  }
  async modelsImport({ dir }: { dir: string }) {
    if (!dir.startsWith('/')) throw new Error(`"${dir}" is not an absolute folder path.`);
    const name = dir.split('/').filter(Boolean).pop() ?? 'model';
    const m: ModelInfo = { id: name, name, path: dir, architecture: 'llama', maxPositions: 4096, sizeBytes: 12_000_000, provider: 'cpu', availableProviders: ['cpu'] };
    this.models = [...this.models.filter((x) => x.id !== m.id), m];
    return m;
  }
  async *modelsAdd({ dir }: { dir: string }): AsyncGenerator<ModelJobPacket> {
    yield { type: 'progress', phase: 'hash', done: 6_000_000, total: 12_000_000, etaSeconds: 1 };
    try {
      yield { type: 'done', model: await this.modelsImport({ dir }) };
    } catch (err) {
      yield { type: 'failed', error: { code: 'invalid_input', message: (err as Error).message } };
    }
  }
  async modelsSetProvider({ modelId, provider }: { modelId: string; provider: ExecutionProvider }) {
    const m = this.models.find((x) => x.id === modelId);
    if (!m) throw new Error(`There is no model "${modelId}".`);
    m.provider = provider;
    return m;
  }
  async modelsSetVariant({ modelId, variant }: { modelId: string; variant: string | null }) {
    const m = this.models.find((x) => x.id === modelId);
    if (!m) throw new Error(`There is no model "${modelId}".`);
    m.variant = variant ?? undefined;
    return m;
  }
  // the fake has no Hub: an empty catalog and no downloads (e2e/models.test.ts runs the real core against a local Hub)
  async *modelsConvert(): AsyncGenerator<ModelJobPacket> {
    yield { type: 'failed', error: { code: 'failed', message: 'The fake core cannot convert models.' } };
  }
  async catalogList() {
    return [];
  }
  async downloadsList() {
    return [];
  }
  async downloadsStart(): Promise<never> {
    throw new Error('The fake core cannot download.');
  }
  downloadsPause = this.downloadsStart;
  downloadsResume = this.downloadsStart;
  downloadsCancel = this.downloadsStart;

  /** the fake core has no other processes */
  async sessionsTakeOver() {}
  /** the fake core never froze */
  async sessionsInterrupted() {
    return [];
  }
  async sessionsList() {
    return [...this.sessions.values()].map((s) => s.session).sort((a, b) => b.updatedAt - a.updatedAt);
  }
  async sessionsCreate(p: { name: string; modelId: string; policy: PolicyConfig; systemPrompt?: string }) {
    if (!this.models.some((m) => m.id === p.modelId)) throw new Error(`There is no model "${p.modelId}".`);
    return this.create(p.name, p.modelId, p.policy, p.systemPrompt).session;
  }
  async sessionsOpen({ id, limit = 200 }: { id: string; limit?: number }) {
    const s = this.get(id);
    const messages = s.messages.slice(-limit);
    return { session: s.session, messages, hasMore: s.messages.length > messages.length, stats: this.stats(s) };
  }
  async modelsRemove({ modelId }: { modelId: string }) {
    this.models = this.models.filter((m) => m.id !== modelId);
    return { deletedFolder: false };
  }
  async sessionsDuplicate({ id }: { id: string }) {
    const s = this.get(id);
    const copy = this.create(`${s.session.name} (copy)`, s.session.modelId, s.session.policy, s.session.systemPrompt ?? undefined);
    return copy.session;
  }
  async sessionsSetModel({ id, modelId }: { id: string; modelId: string }) {
    const s = this.get(id);
    s.session = { ...s.session, modelId, updatedAt: Date.now() };
    return this.sessionsOpen({ id });
  }
  async sessionsSetPinned({ id, pinned }: { id: string; pinned: boolean }) {
    const s = this.get(id);
    s.session = { ...s.session, pinned };
    return s.session;
  }
  async settingsGet() {
    return { ...this.appSettings };
  }
  async settingsSet(p: Partial<AppSettings>) {
    this.appSettings = { ...this.appSettings, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) };
    return { ...this.appSettings };
  }
  async snapshotsUsage() {
    return { usedBytes: 0, budgetBytes: this.appSettings.snapshotBudgetBytes, chats: 0 };
  }
  async presetsList() {
    return [...this.presets];
  }
  async presetsSave(p: { name: string; systemPrompt: string; generation: Preset['generation'] }) {
    const preset = { id: String(this.nextId++), ...p };
    this.presets = [...this.presets.filter((x) => x.name !== p.name), preset];
    return preset;
  }
  async presetsDelete({ id }: { id: string }) {
    this.presets = this.presets.filter((x) => x.id !== id);
  }
  async sessionsRename({ id, name }: { id: string; name: string }) {
    const s = this.get(id);
    s.session = { ...s.session, name, updatedAt: Date.now() };
    return s.session;
  }
  async sessionsDelete({ id }: { id: string }) {
    this.get(id);
    this.sessions.delete(id);
  }
  async sessionsSearch({ text, limit = 50 }: { text: string; limit?: number }) {
    const q = text.trim().toLowerCase();
    if (!q) return [];
    const hits: SearchHit[] = [];
    for (const s of this.sessions.values()) {
      if (s.session.name.toLowerCase().includes(q)) hits.push({ sessionId: s.session.id, sessionName: s.session.name, messageId: null, seq: null, role: null, snippet: s.session.name });
      for (const m of s.messages) {
        const i = m.text.toLowerCase().indexOf(q);
        if (i >= 0) hits.push({ sessionId: s.session.id, sessionName: s.session.name, messageId: m.id, seq: m.seq, role: m.role, snippet: m.text.slice(Math.max(0, i - 40), i + 80) });
        if (hits.length >= limit) return hits;
      }
    }
    return hits;
  }
  async sessionsExportMarkdown({ id }: { id: string }) {
    const s = this.get(id);
    return `# ${s.session.name}\n\n` + s.messages.map((m) => `**${m.role}**\n\n${m.text}\n`).join('\n');
  }
  async messagesPage({ sessionId, beforeSeq, limit }: { sessionId: string; beforeSeq: number; limit: number }) {
    const s = this.get(sessionId);
    const older = s.messages.filter((m) => m.seq < beforeSeq);
    const messages = older.slice(-limit);
    return { messages, hasMore: older.length > messages.length };
  }
  /** The fake reads no files: every import is one empty report. */
  async sessionsImport() {
    return { format: 'chatgpt' as const, conversations: 0, messages: 0, sessions: [], skipped: [] };
  }
  /** Only the message goes (the fake keeps one branch); Undo puts it back where it was. */
  async messagesDelete({ sessionId, messageId }: { sessionId: string; messageId: string }) {
    const s = this.get(sessionId);
    const at = s.messages.findIndex((m) => m.id === messageId);
    if (at < 0) throw new Error('That message is not part of this chat.');
    const [removed] = s.messages.splice(at, 1);
    this.deleted.set(removed!.id, { s, at, message: removed! });
    return { undoId: removed!.id, stats: this.stats(s) };
  }
  async messagesRestore({ undoId }: { sessionId: string; undoId: string }) {
    const d = this.deleted.get(undoId);
    if (!d) throw new Error('That deleted message can no longer be put back.');
    this.deleted.delete(undoId);
    d.s.messages.splice(d.at, 0, d.message);
  }
  async *chatSend({ sessionId, text }: { sessionId: string; text: string }, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const { s, running } = this.claim(sessionId, signal);
    const user = this.msg(sessionId, s.messages.length, 'user', text, 'done');
    s.messages.push(user);
    const assistant = this.msg(sessionId, s.messages.length, 'assistant', '', 'streaming');
    s.messages.push(assistant);
    s.session.messageCount = s.messages.length;
    s.session.updatedAt = Date.now();
    yield { type: 'started', user, assistant: { ...assistant }, replacedMessageId: null };
    yield* this.answer(s, running, assistant, tokens(text));
  }
  async chatStop({ sessionId }: { sessionId: string }) {
    const s = this.get(sessionId);
    if (s.running) s.running.stop = true;
  }
  async *chatRegenerate({ sessionId }: { sessionId: string }, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const { s, running } = this.claim(sessionId, signal);
    const last = s.messages[s.messages.length - 1];
    let replaced: string | null = null;
    if (last && last.role === 'assistant') {
      s.messages.pop();
      replaced = last.id;
    }
    const assistant = this.msg(sessionId, s.messages.length, 'assistant', '', 'streaming');
    s.messages.push(assistant);
    yield { type: 'started', user: null, assistant: { ...assistant }, replacedMessageId: replaced };
    yield* this.answer(s, running, assistant, 0);
  }
  async *chatContinue({ sessionId }: { sessionId: string }, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const { s, running } = this.claim(sessionId, signal);
    const assistant = this.msg(sessionId, s.messages.length, 'assistant', '', 'streaming');
    s.messages.push(assistant);
    yield { type: 'started', user: null, assistant: { ...assistant }, replacedMessageId: null };
    yield* this.answer(s, running, assistant, 0);
  }
  /** An edit replaces the message and what followed it (the fake keeps no other branches). */
  async *chatEdit({ sessionId, messageId, text }: { sessionId: string; messageId: string; text: string }, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const { s, running } = this.claim(sessionId, signal);
    const at = s.messages.findIndex((m) => m.id === messageId);
    if (at >= 0) s.messages.splice(at);
    const user = this.msg(sessionId, s.messages.length, 'user', text, 'done');
    const assistant = this.msg(sessionId, s.messages.length + 1, 'assistant', '', 'streaming');
    s.messages.push(user, assistant);
    yield { type: 'started', user, assistant: { ...assistant }, replacedMessageId: at >= 0 ? messageId : null };
    yield* this.answer(s, running, assistant, tokens(text));
  }
  async chatSwitchBranch({ sessionId }: { sessionId: string }) {
    this.get(sessionId);
    return { switched: false, statement: null };
  }
  /** The session for one job, refused while another runs; the signal stops it. */
  private claim(sessionId: string, signal: AbortSignal): { s: FakeSession; running: { stop: boolean } } {
    const s = this.get(sessionId);
    if (s.running) throw Object.assign(new Error('This session is still answering; stop it or wait for it to finish.'), { code: 'busy' });
    const running = { stop: false };
    s.running = running;
    signal.addEventListener('abort', () => (running.stop = true));
    return { s, running };
  }
  // the OpenAI-compatible server's completions are tested against the real core (main/server), not this fake
  async *chatComplete(): AsyncGenerator<CompletionPacket> {
    yield { type: 'failed', error: { code: 'failed', message: 'Completions are not part of the fake core.' } };
  }

  async *textComplete(): AsyncGenerator<CompletionPacket> {
    yield { type: 'failed', error: { code: 'failed', message: 'Completions are not part of the fake core.' } };
  }

  async inspectSinks({ sessionId }: { sessionId: string }) {
    this.get(sessionId);
    // a plausible Figure 2: the first layers spread their attention, later ones pour it into the first tokens
    const share = Array.from({ length: 6 }, (_, l) => Array.from({ length: 8 }, (_, h) => Math.min(1, 0.15 + 0.14 * l + 0.02 * ((h * 5) % 7))));
    return { layers: 6, heads: 8, firstTokens: 4, tokens: 256, share };
  }

  async sessionsSettings({ id }: { id: string }) {
    const s = this.get(id);
    const defaults = { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxTokens: 512, stop: [], seed: null };
    return { generation: s.generation ?? {}, defaults, systemPrompt: s.session.systemPrompt ?? '' };
  }
  async sessionsSetGeneration({ id, generation }: { id: string; generation: Record<string, unknown> }) {
    this.get(id).generation = generation;
    return this.sessionsSettings({ id });
  }
  async sessionsSetSystemPrompt({ id, systemPrompt }: { id: string; systemPrompt: string }) {
    const s = this.get(id);
    s.session = { ...s.session, systemPrompt: systemPrompt || null };
    return { statement: `The cache (${fmt(s.cacheFill)} tokens) was rebuilt after the new system prompt.`, session: s.session, stats: this.stats(s) };
  }

  async *policySet({ sessionId, policy }: { sessionId: string; policy: PolicyConfig }): AsyncGenerator<PolicyPacket> {
    const s = this.get(sessionId);
    for (const done of [256, 768]) yield { type: 'progress', phase: 'rebuild', done, total: 1024, etaSeconds: (1024 - done) / 512 };
    const before = s.cacheFill;
    s.session = { ...s.session, policy };
    const cap = capacity(policy);
    s.cacheFill = Math.min(before, cap);
    const evicted = before - s.cacheFill;
    const statement =
      policy.name === 'dense'
        ? `Switched to dense: the cache keeps every token (${fmt(s.cacheFill)} now, up to ${fmt(cap)}).`
        : policy.name === 'sink'
          ? `Switched to sink ${policy.sink} + window ${policy.window}: kept ${fmt(s.cacheFill)} tokens, evicted ${fmt(evicted)} and re-rotated the rest.`
          : `Switched to ${policy.name} ${policy.window}: kept the last ${fmt(s.cacheFill)} tokens, evicted ${fmt(evicted)}.`;
    yield { type: 'done', statement, policy, stats: this.stats(s) };
  }

  async *abStart(p: { sessionId: string; a: PolicyConfig; b: PolicyConfig; prompt: string; maxTokens?: number }, signal: AbortSignal): AsyncGenerator<AbPacket> {
    const { s, running } = this.claim(p.sessionId, signal);
    yield { type: 'started', abId: this.id('ab') };
    yield* this.fakeAb(s, running, p);
  }
  async abStop({ sessionId }: { sessionId: string }) {
    const s = this.get(sessionId);
    if (s.running) s.running.stop = true;
  }
  async abVote({ runId, vote, continueWith }: { runId: string; vote: AbVote | null; continueWith?: boolean }) {
    const run = this.abRuns.find((r) => r.id === runId);
    if (!run) throw new Error(`There is no A/B run "${runId}".`);
    run.vote = vote;
    const s = run.sessionId ? this.sessions.get(run.sessionId) : undefined;
    if (continueWith && (vote === 'a' || vote === 'b') && s) {
      s.messages.push(this.msg(s.session.id, s.messages.length, 'user', run.prompt, 'done'));
      s.messages.push(this.msg(s.session.id, s.messages.length, 'assistant', run[vote].answer, 'done'));
      s.session = { ...s.session, policy: run[vote].policy, messageCount: s.messages.length, updatedAt: Date.now() };
      run.continuable = false;
      return { run, continued: true, session: s.session, statement: `The chat continues from ${vote.toUpperCase()}.`, stats: this.stats(s) };
    }
    return { run, continued: false, session: s?.session ?? null, statement: null, stats: null };
  }
  async abHistory(p?: { sessionId?: string }) {
    const runs = this.abRuns.filter((r) => !p?.sessionId || r.sessionId === p.sessionId);
    return { runs, summary: summarizeAbRuns(runs) };
  }

  private async *fakeAb(s: FakeSession, running: { stop: boolean }, p: { sessionId: string; a: PolicyConfig; b: PolicyConfig; prompt: string; maxTokens?: number }): AsyncGenerator<AbPacket> {
    const sessionId = s.session.id;
    const answers = { a: '', b: '' };
    const n = Math.min(p.maxTokens ?? 40, 40);
    for (const branch of ['a', 'b'] as const) yield { type: 'progress', branch, phase: 'fork', done: 0, total: 0, fork: 'forked' };
    for (let i = 0; i < n && !running.stop; i++) {
      for (const branch of ['a', 'b'] as const) {
        const delta = (i === 0 ? '' : ' ') + WORDS[(i * (branch === 'a' ? 3 : 5)) % WORDS.length];
        answers[branch] += delta;
        yield { type: 'token', branch, delta };
      }
      await sleep(this.tokenDelayMs);
    }
    const stopped = running.stop;
    s.running = undefined;
    if (stopped) {
      yield { type: 'stopped' };
      return;
    }
    const metrics = (policy: PolicyConfig, answer: string, k: number): AbMetrics => ({
      policy, answer, tokens: n, latencyP50Ms: 3 + k, latencyP90Ms: 5 + k, tokensPerSecond: 300 / (1 + k), cacheFill: Math.min(capacity(policy), s.cacheFill + n),
      cacheCapacity: capacity(policy), kvBytes: Math.min(capacity(policy), s.cacheFill + n) * 4096, transcriptPpl: 12 + k * 4, transcriptTokens: s.totalTokensSeen + n, fork: 'forked',
    });
    const run: AbRun = { id: this.id('r'), sessionId, createdAt: Date.now(), prompt: p.prompt, a: metrics(p.a, answers.a, 0), b: metrics(p.b, answers.b, 1), vote: null, continuable: true };
    this.abRuns = [run, ...this.abRuns];
    yield { type: 'done', runId: run.id, a: run.a, b: run.b };
  }

  private async *answer(s: FakeSession, running: { stop: boolean }, m: Message, promptTokens: number): AsyncGenerator<ChatPacket> {
    const cap = capacity(s.session.policy);
    if (promptTokens > 256) {
      const chunk = Math.max(256, Math.ceil(promptTokens / 40));
      for (let done = 0; done < promptTokens; ) {
        done = Math.min(promptTokens, done + chunk);
        yield { type: 'progress', phase: 'prefill', done, total: promptTokens };
        await sleep(25);
        if (running.stop) break;
      }
    }
    s.totalTokensSeen += promptTokens;
    s.cacheFill = Math.min(cap, s.cacheFill + promptTokens);
    const n = 12 + (m.seq % 20);
    const t0 = Date.now();
    for (let i = 0; i < n && !running.stop; i++) {
      const delta = (i === 0 ? '' : ' ') + WORDS[(m.seq + i) % WORDS.length];
      m.text += delta;
      s.totalTokensSeen++;
      s.cacheFill = Math.min(cap, s.cacheFill + 1);
      yield { type: 'token', delta };
      await sleep(this.tokenDelayMs);
      s.tokensPerSecond = ((i + 1) * 1000) / Math.max(1, Date.now() - t0);
      if (i % 5 === 4) yield { type: 'stats', stats: this.stats(s) };
    }
    m.state = running.stop ? 'stopped' : 'done';
    s.running = undefined;
    yield { type: m.state === 'stopped' ? 'stopped' : 'done', message: { ...m }, stats: this.stats(s) };
  }
}

function capacity(p: PolicyConfig): number {
  if (p.name === 'dense') return CAPACITY_DENSE;
  if (p.name === 'sink') return p.sink + p.window;
  return p.window;
}
function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}
function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
