/**
 * Keeps the core process alive: forks it, connects every window to it with a fresh MessageChannel, and
 * when it dies unexpectedly forks a new one, tells each window (coreRestarted) and reconnects it. A core that
 * reported a fatal start-up error is not restarted (it would fail the same way): its sentence is shown. A core
 * that stops answering (its heartbeats stop: a frozen main loop) is killed hard and restarted like a crashed one.
 * Electron-free (the fork and channel are injected) so the restart logic is unit-tested.
 */
import { CoreStatusMessageSchema, HEARTBEAT_TIMEOUT_MS } from '../api/shell-protocol.js';


export interface CoreChildLike {
  postMessage(message: unknown, transfer?: unknown[]): void;
  on(event: 'exit', listener: (code: number) => void): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  kill(): boolean;
  /** the OS process, for a hard kill of a core whose main loop is frozen (it cannot run a SIGTERM handler) */
  readonly pid?: number;
}

export interface ChannelLike<P> {
  /** End given to the core. */
  core: P;
  /** End given to the window. */
  window: P;
}

/** A window the supervisor keeps connected. */
export interface CoreClient<P> {
  readonly id: number;
  isAlive(): boolean;
  sendPort(port: P): void;
  /** `frozenChatId`: the chat whose model the core was running when it froze; the window does not reopen it by itself */
  notifyRestarted(reason: string, frozenChatId?: string): void;
  notifyFailed(message: string): void;
  /** the core upgrades the database before it starts (rows done of total) */
  notifyMigrating?(progress: { step: string; done: number; total: number }): void;
}

export interface CoreSupervisorDeps<P> {
  fork(): CoreChildLike;
  createChannel(): ChannelLike<P>;
  log?(message: string): void;
  now?(): number;
  setTimer?(fn: () => void, ms: number): unknown;
  /** ends a frozen core at once (default: SIGKILL to its pid, else kill()) */
  killHard?(child: CoreChildLike): void;
}

export interface CoreSupervisorOptions {
  /** Give up after this many crashes within `crashWindowMs`. */
  maxCrashes?: number;
  crashWindowMs?: number;
  /** Delay before the n-th consecutive restart: backoff[min(n, len-1)]. */
  backoffMs?: number[];
  /** Restart a core that sent no heartbeat for this long once it sent its first (0: never). */
  heartbeatTimeoutMs?: number;
}

export class CoreSupervisor<P> {
  private child: CoreChildLike | null = null;
  private clients = new Map<number, CoreClient<P>>();
  private crashes: number[] = [];
  private stopping = false;
  private failed: string | null = null;
  private nextConnectionId = 1;
  private readonly maxCrashes: number;
  private readonly crashWindowMs: number;
  private readonly backoffMs: number[];
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly log: (m: string) => void;
  private readonly heartbeatTimeoutMs: number;
  /** when the running core last said it is alive (null: not yet, it is still starting) */
  private lastBeat: number | null = null;
  /** why the running core was killed on purpose (it froze), for the restart sentence */
  private killedBecause: string | null = null;
  /** what the running core was last asked (it names the chat and model a freeze came with) */
  private lastWork: string | null = null;
  /** the chat whose model the running core was last asked to run (opened, or answering in it) */
  private lastChat: string | null = null;
  /** the chat the killed core froze in, for the restart */
  private frozenChat: string | null = null;

  constructor(
    private readonly deps: CoreSupervisorDeps<P>,
    opts: CoreSupervisorOptions = {},
  ) {
    this.maxCrashes = opts.maxCrashes ?? 5;
    this.crashWindowMs = opts.crashWindowMs ?? 60_000;
    this.backoffMs = opts.backoffMs ?? [0, 500, 2000, 5000];
    this.now = deps.now ?? Date.now;
    this.setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.log = deps.log ?? ((m) => console.log(`[core-supervisor] ${m}`));
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  }

  get running(): boolean {
    return this.child !== null;
  }

  start(): void {
    if (this.child || this.stopping) return;
    const child = this.deps.fork();
    this.child = child;
    this.lastBeat = null;
    this.killedBecause = null;
    this.lastWork = null;
    this.lastChat = null;
    child.on('exit', (code) => this.onExit(child, code));
    child.on('message', (m) => {
      const msg = CoreStatusMessageSchema.safeParse(m);
      if (msg.success && msg.data.type === 'working' && child === this.child) {
        this.lastWork = msg.data.what;
        if (msg.data.chatId !== undefined) this.lastChat = msg.data.chatId;
      }
      if (msg.success && msg.data.type === 'heartbeat' && child === this.child) {
        // the watch starts with the first beat: a start-up (a long migration) is never taken for a freeze
        if (this.lastBeat === null && this.heartbeatTimeoutMs > 0) this.watch(child);
        this.lastBeat = this.now();
      }
      if (msg.success && msg.data.type === 'fatal') {
        this.log(`core reported a fatal error: ${msg.data.message}`);
        this.lastFatal = msg.data.message;
      }
      if (msg.success && msg.data.type === 'migrating') {
        const { step, done, total } = msg.data;
        if (done === 0 || done === total) this.log(`upgrading the database (${step}): ${done}/${total}`);
        for (const c of this.clients.values()) c.notifyMigrating?.({ step, done, total });
      }
    });
    for (const c of this.clients.values()) this.connect(c);
  }

  private lastFatal: string | null = null;

  /** Connect (or reconnect, after a page reload) a window to the core. */
  attach(client: CoreClient<P>): void {
    this.clients.set(client.id, client);
    if (this.failed) {
      client.notifyFailed(this.failed);
      return;
    }
    if (!this.child) this.start();
    else this.connect(client);
  }

  detach(id: number): void {
    this.clients.delete(id);
  }

  /** Stop for good (app quitting). */
  stop(): void {
    this.stopping = true;
    const c = this.child;
    this.child = null;
    c?.kill();
  }

  /** Kill the core on purpose (tests, "restart engine"); it is restarted like after a crash. */
  kill(): void {
    this.child?.kill();
  }

  /** Checks the heartbeat of `child` every half timeout; a silent core is killed hard and then restarted as crashed. */
  private watch(child: CoreChildLike): void {
    this.setTimer(() => {
      if (child !== this.child || this.stopping) return;
      const silent = this.now() - (this.lastBeat ?? this.now());
      if (silent < this.heartbeatTimeoutMs) return this.watch(child);
      const during = this.lastWork ? ` during ${this.lastWork}` : '';
      this.killedBecause = `the engine stopped answering for ${Math.round(silent / 1000)} s${during} and was restarted`;
      this.frozenChat = this.lastChat;
      this.log(`${this.killedBecause}: killing it`);
      (this.deps.killHard ?? hardKill)(child);
    }, this.heartbeatTimeoutMs / 2);
  }

  private connect(client: CoreClient<P>): void {
    if (!this.child || !client.isAlive()) return;
    const { core, window } = this.deps.createChannel();
    this.child.postMessage({ type: 'connect', connectionId: this.nextConnectionId++ }, [core]);
    client.sendPort(window);
  }

  /** Give up for good and tell every window why. */
  private fail(message: string): void {
    this.failed = message;
    for (const c of this.clients.values()) c.notifyFailed(message);
  }

  private onExit(child: CoreChildLike, code: number): void {
    if (child !== this.child) return;
    this.child = null;
    if (this.stopping) return;
    const fatal = this.lastFatal;
    this.lastFatal = null;
    this.log(`the core process exited with code ${code}${fatal ? `: ${fatal}` : ''}`);
    for (const [id, c] of this.clients) if (!c.isAlive()) this.clients.delete(id);
    if (fatal) {
      this.fail(fatal);
      return;
    }
    const reason = this.killedBecause ?? `the core process exited with code ${code}`;
    const frozenChat = this.frozenChat ?? undefined;
    this.killedBecause = null;
    this.frozenChat = null;
    const t = this.now();
    this.crashes = [...this.crashes.filter((x) => t - x < this.crashWindowMs), t];
    if (this.crashes.length > this.maxCrashes) {
      this.fail(
        `The engine crashed ${this.crashes.length} times in a minute (last: ${reason}). Restart Perpetua; if it keeps happening, switch the model to the CPU provider.`,
      );
      return;
    }
    const delay = this.backoffMs[Math.min(this.crashes.length - 1, this.backoffMs.length - 1)];
    this.setTimer(() => {
      if (this.stopping || this.child) return;
      this.start();
      for (const c of this.clients.values()) if (c.isAlive()) c.notifyRestarted(reason, frozenChat);
    }, delay);
  }
}

/** SIGKILL: a frozen main loop cannot run the core's SIGTERM handler. */
function hardKill(child: CoreChildLike): void {
  if (child.pid === undefined) {
    child.kill();
    return;
  }
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    child.kill(); // already gone, or not ours to signal
  }
}
