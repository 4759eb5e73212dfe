import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Db } from './database.js';
import { SessionHolderRunningError, SessionLockedError } from './errors.js';
import { inTransaction, prepareTyped } from './typed-statements.js';

interface LockRow {
  session_id: number;
  pid: number;
  host: string;
  process_start: string;
  holder: string;
  acquired_at: number;
  renewed_at: number;
  boot_id: string;
}

/** How long a lock lives without renewal; the holder renews it every LEASE_RENEW_MS while it runs. */
export const LEASE_MS = 90_000;
export const LEASE_RENEW_MS = 15_000;

/** This process as a lock holder: pid, host, its start time (tells a live holder from a reused pid) and the boot. */
const SELF = { pid: process.pid, host: hostname(), start: processStart(process.pid) ?? '', boot: bootId() };

/** Renewal timers of the locks this process holds, per connection (so a closed database stops its own). */
const renewals = new WeakMap<Db, Map<number, NodeJS.Timeout>>();

/**
 * One writer per session across processes. A lock is a row naming the process that holds it; a second process is
 * refused with who holds it and since when. A lock is a lease: its holder renews it while it runs, so the lock of a
 * process that died (SIGKILL, power cut) goes stale after LEASE_MS whatever the host is called now (macOS renames the
 * host with the network; a database on a shared drive is seen from several). In the same boot of this machine (boot
 * id) it goes stale at once when the holder's pid is gone or reused. Taking over a stale lock marks the answer its
 * holder left streaming as stopped: it was cut off.
 */
export class SessionLocks {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.s = {
      get: prepareTyped<[number], LockRow>(db, 'SELECT * FROM session_locks WHERE session_id = ?'),
      all: prepareTyped<[], LockRow>(db, 'SELECT * FROM session_locks'),
      put: prepareTyped<unknown[], unknown>(db, `
        INSERT INTO session_locks (session_id, pid, host, process_start, holder, acquired_at, renewed_at, boot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (session_id) DO UPDATE SET pid = excluded.pid, host = excluded.host, process_start = excluded.process_start,
          holder = excluded.holder, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, boot_id = excluded.boot_id`),
      renew: prepareTyped<unknown[], unknown>(db, 'UPDATE session_locks SET renewed_at = ? WHERE session_id = ? AND pid = ? AND host = ? AND process_start = ?'),
      release: prepareTyped<unknown[], unknown>(db, 'DELETE FROM session_locks WHERE session_id = ? AND pid = ? AND host = ?'),
      drop: prepareTyped<[number], unknown>(db, 'DELETE FROM session_locks WHERE session_id = ?'),
      cutOff: prepareTyped<unknown[], unknown>(db, "UPDATE messages SET state = 'stopped', updated_at = ? WHERE session_id = ? AND state = 'streaming'"),
    };
  }

  /** Takes the session's lock for this process (again, if it holds it already); `holder` says what holds it. */
  acquire(sessionId: number, sessionName: string, holder: string): void {
    inTransaction(this.db, () => {
      const row = this.s.get.get(sessionId);
      if (row && !isSelf(row)) {
        if (this.isLive(row)) {
          throw new SessionLockedError(sessionName, { holder: row.holder, pid: row.pid, host: row.host, since: row.acquired_at }, LEASE_MS);
        }
        this.s.cutOff.run(this.now(), sessionId); // its holder is gone: what it was streaming was cut off
      }
      const now = this.now();
      this.s.put.run(sessionId, SELF.pid, SELF.host, SELF.start, holder, now, now, SELF.boot);
    });
    this.keepRenewing(sessionId);
  }

  /**
   * Frees a session the user says its holder has left (a crash, or another machine whose lease has not run out yet):
   * refused while the holder provably runs (this boot of this machine, its pid alive with its start time); else the
   * answer it left streaming is marked cut off and its lock removed, so the next open here takes the session. The
   * holder, should it still write somewhere, finds its lease gone at its next renewal. False: no other process held it.
   */
  takeOver(sessionId: number, sessionName: string): boolean {
    return inTransaction(this.db, () => {
      const row = this.s.get.get(sessionId);
      if (!row || isSelf(row)) return false; // nobody else holds it
      if (provablyRunning(row)) throw new SessionHolderRunningError(sessionName, { holder: row.holder, pid: row.pid });
      this.s.cutOff.run(this.now(), sessionId);
      this.s.drop.run(sessionId);
      return true;
    });
  }

  release(sessionId: number): void {
    this.stopRenewing(sessionId);
    this.s.release.run(sessionId, SELF.pid, SELF.host);
  }

  /** Renews this process's lease on a session now; false when it holds it no more (released, or taken over). */
  renew(sessionId: number): boolean {
    return this.s.renew.run(this.now(), sessionId, SELF.pid, SELF.host, SELF.start).changes > 0;
  }

  /** Sessions another live process is writing to right now. */
  heldElsewhere(): Set<number> {
    return new Set(this.s.all.all().filter((r) => !isSelf(r) && this.isLive(r)).map((r) => r.session_id));
  }

  /** Whether a lock row's holder may still be writing. */
  isLive(row: LockRow): boolean {
    // the same boot of this machine (whatever the host is called now): the pid tells, at once
    if (row.boot_id !== '' && row.boot_id === SELF.boot) return pidAlive(row);
    // a lock from before leases, on this host: the pid tells, as before
    if (row.boot_id === '' && row.renewed_at === 0 && row.host === SELF.host) return pidAlive(row);
    // another machine, another boot, or a host name that changed: only the lease tells
    return this.now() - Math.max(row.renewed_at, row.acquired_at) < LEASE_MS;
  }

  private keepRenewing(sessionId: number): void {
    let timers = renewals.get(this.db);
    if (!timers) renewals.set(this.db, (timers = new Map()));
    if (timers.has(sessionId)) return;
    const timer = setInterval(() => {
      // a closed database or a lock no longer ours ends the renewal
      let held = false;
      try {
        held = this.db.open && this.renew(sessionId);
      } catch {
        held = false; // busy or closing: the next tick tries again only if the timer is kept; a lease is generous
      }
      if (!held) this.stopRenewing(sessionId);
    }, LEASE_RENEW_MS);
    timer.unref(); // a lease never keeps the process alive
    timers.set(sessionId, timer);
  }

  private stopRenewing(sessionId: number): void {
    const timers = renewals.get(this.db);
    clearInterval(timers?.get(sessionId));
    timers?.delete(sessionId);
  }
}

/** The holder runs in this boot of this machine (a lock from before leases: on this host), its pid alive. */
function provablyRunning(row: LockRow): boolean {
  const thisBoot = row.boot_id !== '' ? row.boot_id === SELF.boot : row.host === SELF.host;
  return thisBoot && pidAlive(row);
}

function isSelf(row: LockRow): boolean {
  return row.pid === SELF.pid && row.host === SELF.host && row.process_start === SELF.start;
}

/** On this host: whether the holder's pid still runs the same process. */
function pidAlive(row: LockRow): boolean {
  try {
    process.kill(row.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStart(row.pid);
  return start === null || row.process_start === '' || start === row.process_start;
}

/** Start time of a process in clock ticks since boot (Linux /proc), or null where it cannot be read. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after its closing one
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** This boot of the machine (Linux); '' where it cannot be read. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
