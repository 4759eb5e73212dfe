/**
 * Copies the WAL into the database file (a PASSIVE checkpoint) whenever the core's thread asks (wal-checkpointer.ts),
 * through a connection of its own opened for each checkpoint, so the copy and its fsyncs never hold the core's thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export type CheckpointReply =
  | { ok: true; busy: boolean; walFrames: number; copiedFrames: number; ms: number }
  | { ok: false; message: string };

const { file, nativeBinding } = workerData as { file: string; nativeBinding: string };

parentPort!.on('message', () => {
  let reply: CheckpointReply;
  const started = performance.now();
  try {
    const db = new Database(file, { nativeBinding, fileMustExist: true });
    try {
      db.pragma('synchronous = NORMAL');
      // PASSIVE never waits for (or blocks) the core's writer nor any reader: it copies what it can
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      reply = { ok: true, busy: r!.busy !== 0, walFrames: r!.log, copiedFrames: r!.checkpointed, ms: performance.now() - started };
    } finally {
      db.close(); // never the last connection while the core's is open: it leaves the WAL where it is
    }
  } catch (error) {
    reply = { ok: false, message: (error as Error)?.message ?? String(error) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage('ready');
