import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Db } from './database.js';
import { SessionLockedError } from './errors.js';
import { inTransaction, prepareTyped } from './typed-statements.js';

interface LockRow {
  session_id: number;
  pid: number;
  host: string;
  process_start: string;
  holder: string;
  acquired_at: number;
}

/** This process as a lock holder: pid, host, and its start time (tells a live holder from a reused pid). */
const SELF = { pid: process.pid, host: hostname(), start: processStart(process.pid) ?? '' };

/**
 * One writer per session across processes. A lock is a row naming the process that holds it; a second
 * process is refused with who holds it and since when. The lock of a process that died (SIGKILL, power cut)
 * is taken over: on this host a holder that is gone, or whose pid now belongs to a newer process, is stale.
 */
export class SessionLocks {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      get: prepareTyped<[number], LockRow>(db, 'SELECT * FROM session_locks WHERE session_id = ?'),
      all: prepareTyped<[], LockRow>(db, 'SELECT * FROM session_locks'),
      put: prepareTyped<unknown[], unknown>(db, `
        INSERT INTO session_locks (session_id, pid, host, process_start, holder, acquired_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (session_id) DO UPDATE SET pid = excluded.pid, host = excluded.host, process_start = excluded.process_start,
          holder = excluded.holder, acquired_at = excluded.acquired_at`),
      release: prepareTyped<unknown[], unknown>(db, 'DELETE FROM session_locks WHERE session_id = ? AND pid = ? AND host = ?'),
    };
  }

  /** Takes the session's lock for this process (again, if it holds it already); `holder` says what holds it. */
  acquire(sessionId: number, sessionName: string, holder: string): void {
    inTransaction(this.db, () => {
      const row = this.s.get.get(sessionId);
      if (row && !isSelf(row) && isLive(row)) {
        throw new SessionLockedError(sessionName, { holder: row.holder, pid: row.pid, host: row.host, since: row.acquired_at });
      }
      this.s.put.run(sessionId, SELF.pid, SELF.host, SELF.start, holder, Date.now());
    });
  }

  release(sessionId: number): void {
    this.s.release.run(sessionId, SELF.pid, SELF.host);
  }

  /** Sessions another live process is writing to right now. */
  heldElsewhere(): Set<number> {
    return new Set(this.s.all.all().filter((r) => !isSelf(r) && isLive(r)).map((r) => r.session_id));
  }
}

function isSelf(row: LockRow): boolean {
  return row.pid === SELF.pid && row.host === SELF.host && row.process_start === SELF.start;
}

/** Another host's lock cannot be checked from here, so it counts as held. */
function isLive(row: LockRow): boolean {
  if (row.host !== SELF.host) return true;
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
