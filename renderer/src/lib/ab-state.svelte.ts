import type { AbHistoryResult, AbMetrics, AbPacket, AbRun, AbVote, Channel, PerpetuaBridge, PolicyConfig } from './api.js';
import { frameBatcher } from './frame-batch.js';
import { progressOf, type Progress } from './progress.js';

export type AbLabel = 'a' | 'b';

/** Where a run stands: starting (call in flight), running (forking, reading, writing, scoring), then an end. */
export type AbPhase = 'idle' | 'starting' | 'running' | 'done' | 'stopped' | 'error';

export interface AbColumn {
  text: string;
  /** what the branch is doing, as a key of abStatus.* in the locale files ('' before a run) */
  status: AbStatus;
  /** of the prompt read so far, while status is 'reading' */
  percent: number;
  fork: 'forked' | 'rebuilt' | null;
  metrics: AbMetrics | null;
  /** The prompt being read or the conversation being measured: tokens done of total, time left. */
  progress: Progress | null;
}

export interface AbHost {
  readonly api: PerpetuaBridge;
  toast(kind: 'info' | 'error', text: string): void;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
  /** The session continued from a branch: reload it. */
  afterContinue(sessionId: string): Promise<void>;
}

export type AbStatus = '' | 'forking' | 'waiting' | 'reading' | 'writing' | 'measuring' | 'writtenScoring' | 'scored' | 'done' | 'stopped' | 'failed';
const emptyColumn = (): AbColumn => ({ text: '', status: '', percent: 0, fork: null, metrics: null, progress: null });

/**
 * One chat's A/B comparison: whether it is shown, the form, the run being streamed (one at a time), its vote, and
 * the history with its summary. Token deltas are batched per animation frame so two fast streams never stall the UI.
 */
export class AbState {
  a = $state<PolicyConfig>({ name: 'sink', sink: 4, window: 1020, pinSystem: true });
  b = $state<PolicyConfig>({ name: 'window', sink: 0, window: 1024, pinSystem: false });
  prompt = $state('');
  maxTokens = $state(128);

  /** The chat shows this comparison instead of its transcript. */
  shown = $state(false);
  phase = $state<AbPhase>('idle');
  abId: string | null = null;
  /** The prompt that run was given. */
  runPrompt = $state('');
  columns = $state.raw<Record<AbLabel, AbColumn>>({ a: emptyColumn(), b: emptyColumn() });
  runId = $state<string | null>(null);
  vote = $state<AbVote | null>(null);
  voting = $state(false);
  continuedFrom = $state<AbLabel | null>(null);
  /** The chat is still where the run forked from it, so it can continue from A or B (false once it moved on). */
  continuable = $state(false);
  statement = $state<string | null>(null);
  error = $state<string | null>(null);

  history = $state.raw<AbHistoryResult | null>(null);
  historyScope = $state<'session' | 'all'>('session');
  loadingHistory = $state(false);

  private pending: Record<AbLabel, string> = { a: '', b: '' };
  private readonly scheduleFlush = frameBatcher(() => this.flush());
  private historyToken = 0;

  /** The run in flight (its channel). */
  private channel: Channel<AbPacket> | null = null;

  constructor(
    private readonly host: AbHost,
    /** The chat this comparison belongs to. */
    readonly sessionId: string,
    /** what the form starts with: the chat's own policy against the other bounded one, inside the model's context */
    proposal?: { a: PolicyConfig; b: PolicyConfig },
  ) {
    if (proposal) {
      this.a = proposal.a;
      this.b = proposal.b;
    }
  }

  /** One packet of the run in flight. */
  private receive(p: AbPacket): void {
    if (p.type === 'started') {
      this.abId = p.abId;
      this.phase = 'running';
    } else if (p.type === 'token') {
      this.pending[p.branch] += p.delta;
      this.scheduleFlush();
    } else if (p.type === 'progress') {
      const col = this.columns[p.branch];
      let status = col.status;
      let percent = col.percent;
      let fork = col.fork;
      const progress = p.phase !== 'fork' && p.done < p.total ? progressOf(p) : null;
      if (p.phase === 'fork') {
        fork = p.fork ?? null;
        status = 'waiting';
      } else if (p.phase === 'prefill') {
        status = p.done >= p.total ? 'writing' : 'reading';
        percent = p.total ? Math.floor((p.done / p.total) * 100) / 100 : 0;
      } else {
        status = p.done >= p.total && p.total > 0 ? 'scored' : 'measuring';
        // both answers are written once scoring starts; the other branch waits for its turn
        const other = p.branch === 'a' ? 'b' : 'a';
        if (this.columns[other].status === 'writing') this.setColumn(other, { status: 'writtenScoring' });
      }
      this.setColumn(p.branch, { status, percent, fork, progress });
    } else if (p.type === 'done') {
      this.flush();
      this.columns = {
        a: { ...this.columns.a, text: p.a.answer, status: 'done', metrics: p.a, progress: null },
        b: { ...this.columns.b, text: p.b.answer, status: 'done', metrics: p.b, progress: null },
      };
      this.runId = p.runId;
      this.continuable = true;
      this.phase = 'done';
      void this.loadHistory();
    } else {
      this.flush();
      this.phase = p.type === 'stopped' ? 'stopped' : 'error';
      this.error = p.type === 'failed' ? this.host.error(p.error) : null;
      const status = p.type === 'stopped' ? 'stopped' : 'failed';
      this.columns = { a: { ...this.columns.a, status, progress: null }, b: { ...this.columns.b, status, progress: null } };
      if (this.error) this.host.toast('error', this.error);
    }
  }

  /** A run is in flight for this session. */
  runningFor(sessionId: string | undefined): boolean {
    return !!sessionId && this.sessionId === sessionId && (this.phase === 'starting' || this.phase === 'running');
  }

  get running(): boolean {
    return this.phase === 'starting' || this.phase === 'running';
  }

  async start(): Promise<boolean> {
    if (this.running || !this.prompt.trim()) return false;
    const sessionId = this.sessionId;
    this.abId = null;
    this.runPrompt = this.prompt;
    this.columns = { a: { ...emptyColumn(), status: 'forking' }, b: { ...emptyColumn(), status: 'forking' } };
    this.pending = { a: '', b: '' };
    this.runId = null;
    this.vote = null;
    this.continuedFrom = null;
    this.continuable = false;
    this.statement = null;
    this.error = null;
    this.phase = 'starting';
    const channel = this.host.api.abStart(
      { sessionId, a: { ...this.a }, b: { ...this.b }, prompt: this.prompt, maxTokens: this.maxTokens },
      (p) => this.receive(p),
    );
    this.channel = channel;
    try {
      await channel.closed;
      return true;
    } catch (err) {
      this.phase = 'error';
      this.error = this.host.error(err);
      this.columns = { a: emptyColumn(), b: emptyColumn() };
      this.host.toast('error', this.error);
      return false;
    } finally {
      if (this.channel === channel) this.channel = null;
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.channel) {
      this.channel.cancel();
      return;
    }
    try {
      await this.host.api.abStop({ sessionId: this.sessionId });
    } catch (err) {
      this.host.toast('error', this.host.error(err));
    }
  }

  /** Stores the vote; with `continueWith` (A or B) the chat continues from that branch. */
  async castVote(vote: AbVote, continueWith = false): Promise<boolean> {
    if (!this.runId || this.voting) return false;
    this.voting = true;
    try {
      const r = await this.host.api.abVote({ runId: this.runId, vote, continueWith });
      this.vote = r.run.vote;
      this.continuable = r.run.continuable;
      if (r.continued && vote !== 'tie') {
        this.continuedFrom = vote;
        this.statement = r.statement;
        if (r.session) await this.host.afterContinue(r.session.id);
      }
      void this.loadHistory();
      return true;
    } catch (err) {
      this.host.toast('error', this.host.error(err));
      return false;
    } finally {
      this.voting = false;
    }
  }

  /**
   * What the comparison shows when it comes into view: with no run of this app's life yet (e.g. after a restart), the
   * chat's newest stored run, its answers, metrics and vote; and whether the chat can still continue from the run shown
   * (it may have moved on meanwhile).
   */
  async showStored(): Promise<void> {
    if (this.running) return;
    try {
      const { runs } = await this.host.api.abHistory({ sessionId: this.sessionId });
      if (this.running) return;
      const shown = this.runId ? runs.find((r) => r.id === this.runId) : this.phase === 'idle' ? runs[0] : undefined;
      if (!shown) return;
      if (this.runId === shown.id) {
        this.vote = shown.vote;
        this.continuable = shown.continuable;
      } else this.showRun(shown);
    } catch (err) {
      this.host.toast('error', this.host.error(err));
    }
  }

  private showRun(run: AbRun): void {
    const column = (m: AbMetrics): AbColumn => ({ ...emptyColumn(), text: m.answer, status: 'done', fork: m.fork, metrics: m });
    // the form as it was for that run, so running it again compares the same policies
    this.a = { ...run.a.policy };
    this.b = { ...run.b.policy };
    this.runPrompt = run.prompt;
    this.columns = { a: column(run.a), b: column(run.b) };
    this.runId = run.id;
    this.vote = run.vote;
    this.continuable = run.continuable;
    this.continuedFrom = null;
    this.statement = null;
    this.error = null;
    this.phase = 'done';
  }

  async loadHistory(currentSessionId?: string | null): Promise<void> {
    const token = ++this.historyToken;
    const sessionId = currentSessionId === undefined ? this.sessionId : currentSessionId;
    this.loadingHistory = true;
    try {
      const r = await this.host.api.abHistory(this.historyScope === 'session' && sessionId ? { sessionId } : {});
      if (token === this.historyToken) this.history = r;
    } catch (err) {
      if (token === this.historyToken) this.host.toast('error', this.host.error(err));
    } finally {
      if (token === this.historyToken) this.loadingHistory = false;
    }
  }

  private setColumn(label: AbLabel, patch: Partial<AbColumn>): void {
    this.columns = { ...this.columns, [label]: { ...this.columns[label], ...patch } };
  }

  private flush(): void {
    const { a, b } = this.pending;
    if (!a && !b) return;
    this.pending = { a: '', b: '' };
    const next = { ...this.columns };
    for (const [label, delta] of [['a', a], ['b', b]] as const) {
      if (!delta) continue;
      const col = next[label];
      next[label] = { ...col, text: col.text + delta, status: col.metrics ? col.status : 'writing' };
    }
    this.columns = next;
  }
}
