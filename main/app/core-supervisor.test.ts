import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CoreSupervisor, type CoreChildLike, type CoreClient } from './core-supervisor.js';

class FakeChild implements CoreChildLike {
  posted: { message: unknown; transfer?: unknown[] }[] = [];
  exitListeners: ((code: number) => void)[] = [];
  messageListeners: ((message: unknown) => void)[] = [];
  killed = false;
  postMessage(message: unknown, transfer?: unknown[]) {
    this.posted.push({ message, transfer });
  }
  on(event: 'exit' | 'message', listener: (x: never) => void) {
    if (event === 'exit') this.exitListeners.push(listener as (code: number) => void);
    else this.messageListeners.push(listener as (message: unknown) => void);
    return this;
  }
  kill() {
    this.killed = true;
    return true;
  }
  exit(code: number) {
    for (const l of this.exitListeners) l(code);
  }
  send(message: unknown) {
    for (const l of this.messageListeners) l(message);
  }
}

function setup() {
  const children: FakeChild[] = [];
  let channel = 0;
  const timers: (() => void)[] = [];
  let clock = 0;
  const sup = new CoreSupervisor<string>(
    {
      fork: () => {
        const c = new FakeChild();
        children.push(c);
        return c;
      },
      createChannel: () => {
        channel++;
        return { core: `core-${channel}`, window: `win-${channel}` };
      },
      log: () => {},
      now: () => clock,
      setTimer: (fn) => timers.push(fn),
    },
    { maxCrashes: 2, crashWindowMs: 60_000 },
  );
  const events: string[] = [];
  const client: CoreClient<string> = {
    id: 1,
    isAlive: () => true,
    sendPort: (p) => events.push(`port:${p}`),
    notifyRestarted: (r) => events.push(`restarted:${r}`),
    notifyFailed: (m) => events.push(`failed:${m}`),
  };
  return { sup, children, timers, events, client, tick: (ms: number) => (clock += ms) };
}

describe('CoreSupervisor', () => {
  it('forks on first attach and hands each side one end of a channel', () => {
    const { sup, children, events, client } = setup();
    sup.attach(client);
    expect(children).toHaveLength(1);
    expect(children[0].posted).toEqual([{ message: { type: 'connect', connectionId: 1 }, transfer: ['core-1'] }]);
    expect(events).toEqual(['port:win-1']);
  });

  it('gives a reloaded window a fresh channel to the same core', () => {
    const { sup, children, events, client } = setup();
    sup.attach(client);
    sup.attach(client);
    expect(children).toHaveLength(1);
    expect(events).toEqual(['port:win-1', 'port:win-2']);
  });

  it('restarts a crashed core, reconnects and tells the window', () => {
    const { sup, children, timers, events, client } = setup();
    sup.attach(client);
    children[0].exit(139);
    expect(sup.running).toBe(false);
    timers.shift()!();
    expect(children).toHaveLength(2);
    expect(events).toEqual(['port:win-1', 'port:win-2', 'restarted:the core process exited with code 139']);
  });

  it('gives up after too many crashes in the window and says so', () => {
    const { sup, children, timers, events, client, tick } = setup();
    sup.attach(client);
    for (let i = 0; i < 3; i++) {
      children[children.length - 1].exit(1);
      tick(1000);
      timers.shift()?.();
    }
    expect(events.at(-1)).toMatch(/^failed:The engine crashed 3 times/);
    expect(sup.running).toBe(false);
  });

  it('shows the sentence of a core that could not start instead of restarting it or advising the CPU provider', () => {
    const { sup, children, timers, events, client } = setup();
    sup.attach(client);
    const sentence =
      'The SQLite module for Electron 45.5.0 (ABI 150, linux-x64) is missing (/x/better_sqlite3.node); run `npm run native:electron` to build it.';
    children[0].send({ type: 'fatal', message: sentence });
    children[0].exit(1);
    expect(timers).toHaveLength(0);
    expect(children).toHaveLength(1);
    expect(events).toEqual(['port:win-1', `failed:${sentence}`]);
    // a window that reloads is told the same, and nothing is forked
    sup.attach(client);
    expect(events.at(-1)).toBe(`failed:${sentence}`);
    expect(children).toHaveLength(1);
  });

  it('passes the progress of a database upgrade on to every window', () => {
    const { sup, children, events, client } = setup();
    const migrating: string[] = [];
    sup.attach({ ...client, notifyMigrating: (p) => migrating.push(`${p.step}:${p.done}/${p.total}`) });
    children[0].send({ type: 'migrating', step: 'search index', done: 2000, total: 5000 });
    children[0].send({ type: 'migrating', step: 'search index', done: 'lots', total: 5000 }); // malformed: dropped
    children[0].send({ type: 'migrating', step: 'search index', done: 5000, total: 5000 });
    expect(migrating).toEqual(['search index:2000/5000', 'search index:5000/5000']);
    expect(events).toEqual(['port:win-1']);
  });

  it('ignores malformed status messages from the core', () => {
    const { sup, children, timers, events, client } = setup();
    sup.attach(client);
    children[0].send({ type: 'fatal', message: 42 });
    children[0].exit(139);
    timers.shift()!();
    expect(events.at(-1)).toBe('restarted:the core process exited with code 139');
  });

  it('kills a core that stops answering (its heartbeats stop) and restarts it, saying why', () => {
    const { sup, children, timers, events, client, tick } = setup();
    sup.attach(client);
    children[0].send({ type: 'heartbeat' });
    // beats keep it alive, however long it runs
    for (let i = 0; i < 4; i++) {
      tick(10_000);
      children[0].send({ type: 'heartbeat' });
      timers.shift()!();
    }
    expect(children[0].killed).toBe(false);
    // then silence: its main loop froze (an endless template, a backtracking regex)
    tick(16_000);
    timers.shift()!();
    expect(children[0].killed).toBe(false);
    tick(16_000);
    timers.shift()!();
    expect(children[0].killed).toBe(true);
    children[0].exit(137);
    timers.shift()!();
    expect(children).toHaveLength(2);
    expect(events.at(-1)).toBe('restarted:the engine stopped answering for 32 s and was restarted');
  });

  it('names what the core was last asked (the chat and model) when it froze', () => {
    const { sup, children, timers, events, client, tick } = setup();
    sup.attach(client);
    children[0].send({ type: 'heartbeat' });
    children[0].send({ type: 'working', what: 'sessions.open in the chat "Notes" with the model SmolLM2-135M' });
    tick(31_000);
    timers.shift()!();
    children[0].exit(137);
    timers.shift()!();
    expect(events.at(-1)).toBe('restarted:the engine stopped answering for 31 s during sessions.open in the chat "Notes" with the model SmolLM2-135M and was restarted');
    // the new core starts with a clean slate: its own freeze would name its own request
    children[1].send({ type: 'heartbeat' });
    tick(31_000);
    timers.shift()!();
    children[1].exit(137);
    timers.shift()!();
    expect(events.at(-1)).toBe('restarted:the engine stopped answering for 31 s and was restarted');
  });

  it('never takes a core that is still starting (no heartbeat yet: a long database upgrade) for a frozen one', () => {
    const { sup, children, timers, client, tick } = setup();
    sup.attach(client);
    tick(10 * 60_000);
    expect(timers).toHaveLength(0);
    expect(children[0].killed).toBe(false);
  });

  it('does not restart after stop()', () => {
    const { sup, children, timers, client } = setup();
    sup.attach(client);
    sup.stop();
    expect(children[0].killed).toBe(true);
    children[0].exit(0);
    expect(timers).toHaveLength(0);
  });

  it('a real core process whose main loop freezes (SIGTERM cannot reach it) is SIGKILLed and a new one forked', async () => {
    // beats every 50 ms, then spins forever with a SIGTERM handler it can never run, as a frozen core would
    const code = `process.on('SIGTERM', () => process.exit(0)); const t = setInterval(() => process.send({ type: 'heartbeat' }), 50);
      setTimeout(() => { clearInterval(t); for (;;) {} }, 300);`;
    const spawned: ChildProcess[] = [];
    const restarted: string[] = [];
    const sup = new CoreSupervisor<string>(
      {
        fork: () => {
          const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
          spawned.push(child);
          return {
            pid: child.pid,
            postMessage: () => {},
            on: (event: 'exit' | 'message', listener: (x: never) => void) => child.on(event, listener as () => void),
            kill: () => child.kill(),
          } as CoreChildLike;
        },
        createChannel: () => ({ core: 'c', window: 'w' }),
        log: () => {},
      },
      { heartbeatTimeoutMs: 1000 },
    );
    sup.attach({ id: 1, isAlive: () => true, sendPort: () => {}, notifyRestarted: (r) => restarted.push(r), notifyFailed: () => {} });
    try {
      while (restarted.length === 0) await new Promise((r) => setTimeout(r, 20));
      expect(restarted[0]).toMatch(/^the engine stopped answering for \d+ s and was restarted$/);
      expect(spawned[0].signalCode).toBe('SIGKILL');
      expect(spawned).toHaveLength(2);
    } finally {
      sup.stop();
      for (const c of spawned) c.kill('SIGKILL');
    }
  });
});
