import { statSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { startWorker } from '../shared/start-worker.js';
import type { CheckpointReply } from './wal-checkpoint-worker.js';

/** The WAL is copied into the database once it holds this much (a few dozen turns: pages rewritten meanwhile are copied once). */
export const WAL_CHECKPOINT_BYTES = 16 * 2 ** 20;
/** How often the WAL's size is looked at, in ms (a stat: microseconds). */
const CHECK_EVERY_MS = 250;

const attached = new WeakMap<Database.Database, WalCheckpointer>();

/**
 * Checkpoints the WAL off the core's thread. SQLite's own auto-checkpoint runs inside whichever commit fills the WAL
 * past 1,000 pages and copies it into the database with two fsyncs there: hundreds of ms on a busy disk, with the
 * core's event loop held. Instead the core's connection never checkpoints (`wal_autocheckpoint = 0`) and commits only
 * append to the WAL; when the WAL has grown past `thresholdBytes`, a worker thread's own connection copies it (PASSIVE:
 * it never blocks the core's writes), and the core's next commit starts the WAL over, cut back to a quarter of the
 * threshold (`journal_size_limit`). A crash at any point is what SQLite's WAL recovery handles anyway.
 */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private pending = false;
  private readonly timer: NodeJS.Timeout;
  /** size and time of change of the WAL at the last complete checkpoint: until it changes there is nothing to copy */
  private copied = '';
  private looked = '';
  private forced = false;
  private ready: Promise<void> = Promise.resolve();
  /** the last checkpoint's outcome (tests and benchmarks) */
  last: CheckpointReply | undefined;
  checkpoints = 0;
  /** the longest checkpoint so far, ms (in the worker's thread) */
  longestMs = 0;
  /** times the WAL's size was looked at */
  checks = 0;

  /** Checkpoints `db`'s WAL from now until `db.close()`. */
  static attach(db: Database.Database, nativeBinding: string, thresholdBytes = WAL_CHECKPOINT_BYTES): WalCheckpointer {
    const checkpointer = new WalCheckpointer(db, nativeBinding, thresholdBytes);
    const close = db.close.bind(db);
    db.close = () => {
      checkpointer.stop();
      return close();
    };
    attached.set(db, checkpointer);
    return checkpointer;
  }

  /** The checkpointer of a connection `openDatabase` opened for writing. */
  static of(db: Database.Database): WalCheckpointer | undefined {
    return attached.get(db);
  }

  private constructor(
    private readonly db: Database.Database,
    private readonly nativeBinding: string,
    private readonly thresholdBytes: number,
  ) {
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${Math.floor(thresholdBytes / 4)}`);
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref(); // an open database alone must not keep the process alive
  }

  /** Checkpoints now whatever the WAL's size (a deleted chat's pages go back to the disk at the checkpoint). */
  checkpointSoon(): void {
    this.forced = true;
    this.check();
  }

  /** Resolves once no checkpoint is under way (benchmarks: what a checkpoint writes is counted where it belongs). */
  async settled(): Promise<void> {
    while (this.pending) await new Promise((r) => setTimeout(r, 10));
  }

  /** Starts the worker thread now rather than at the first checkpoint; resolves once it takes requests. */
  async warm(): Promise<void> {
    this.worker ??= this.startWorker();
    await this.ready;
  }

  /** Stops checking; a checkpoint under way finishes in its thread (the core's next open recovers the WAL either way). */
  stop(): void {
    clearInterval(this.timer);
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private check(): void {
    this.checks++;
    if (this.pending) return;
    let state: string;
    try {
      const s = statSync(`${this.db.name}-wal`);
      if (s.size < this.thresholdBytes && !this.forced) return;
      state = `${s.size}:${s.mtimeMs}`;
    } catch {
      return; // no WAL (yet, or any more)
    }
    if (state === this.copied && !this.forced) return;
    this.forced = false;
    this.pending = true;
    this.looked = state;
    this.worker ??= this.startWorker();
    this.worker.postMessage('checkpoint');
  }

  private startWorker(): Worker {
    const worker = startWorker(new URL('./wal-checkpoint-worker.js', import.meta.url), { file: this.db.name, nativeBinding: this.nativeBinding });
    worker.unref();
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m) => m === 'ready' && resolve());
      worker.once('error', reject);
    });
    this.ready.catch(() => {}); // a thread that fails is reported by its 'error' handler below
    worker.on('message', (reply: CheckpointReply | 'ready') => {
      if (reply === 'ready') return;
      this.pending = false;
      this.last = reply;
      this.checkpoints++;
      if (reply.ok) this.longestMs = Math.max(this.longestMs, reply.ms);
      if (reply.ok && !reply.busy && reply.copiedFrames === reply.walFrames) this.copied = this.looked;
    });
    worker.on('error', () => {
      // the thread died (it could not load the addon): the next check starts another
      this.pending = false;
      if (this.worker === worker) this.worker = undefined;
    });
    return worker;
  }
}
