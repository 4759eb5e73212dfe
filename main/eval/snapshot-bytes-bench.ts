import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PersistentChat } from '../core/persistent-chat.js';
import type { Model } from '../engine/model.js';
import type { PolicySpec } from '../policy/policy.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { WalCheckpointer } from '../store/wal-checkpointer.js';

export type SnapshotFormat = 'full' | 'chunked' | 'none';

export interface SnapshotBytesRow {
  format: SnapshotFormat;
  /** tokens each measured turn adds: a user turn and an answer of half each (about: a turn's text joins the one before) */
  turnTokens: number;
  cacheTokens: number;
  /** mean tokens a measured turn added (its user text and its answer) */
  tokensPerTurn: number;
  /**
   * mean per turn: bytes the process caused to be written to storage (/proc/self/io write_bytes: database + WAL), the
   * checkpoints included (those during the turns and one after them that copies what is left in the WAL)
   */
  writeBytes: number;
  /** mean per turn: bytes passed to write calls (wchar) */
  wchar: number;
  /** median per turn: bytes the save handed to the store */
  savedBytes: number;
  /** the longest step a save held the core's thread without a break: median and max over the turns, ms */
  saveMs: number;
  saveMaxMs: number;
  /** the CPU time of a save's costliest step: median and max over the turns, ms */
  saveCpuMs: number;
  saveCpuMaxMs: number;
  /** how long the longest step waited for a CPU (the machine's load): median and max over the turns, ms */
  saveWaitMs: number;
  saveWaitMaxMs: number;
  /** median time from a save's start to its end, ms (the core serves other work between its steps) */
  saveTotalMs: number;
  /** what the session's snapshots take in the database at the end */
  storedBytes: number;
  /** each measured turn's start and end (seconds since the epoch), to count fsyncs from a trace */
  turns: { start: number; end: number }[];
  /** the checkpoint after the measured turns (its bytes and fsyncs are shared out over them) */
  settle: { start: number; end: number };
  /** checkpoints the checkpointer made during the measured turns, and the longest of them (ms, in its own thread) */
  checkpoints: number;
  checkpointMaxMs: number;
  fsyncs?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** write_bytes and wchar of this process (Linux). */
function processIo(): { writeBytes: number; wchar: number } {
  const io = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  return { writeBytes: field('write_bytes'), wchar: field('wchar') };
}

/**
 * Bytes written per turn by a chat whose cache is full (every turn evicts), with the full snapshot format (the whole
 * cache after every answer) and the chunked one (the turn's tokens and a manifest); 'none' saves no snapshot (what the
 * transcript alone costs). The database lives on `dir`'s disk.
 */
export async function benchSnapshotBytes(
  model: Model,
  opts: { text: string; policy: PolicySpec; turnTokens: number[]; turns: number; formats: SnapshotFormat[]; dir?: string; walCheckpointBytes?: number },
): Promise<SnapshotBytesRow[]> {
  const rows: SnapshotBytesRow[] = [];
  const words = opts.text.split(/\s+/).filter(Boolean);
  let cursor = 0;
  /** The next words of the text, as many as make `tokens` tokens (the tokenizer says). */
  const nextText = (tokens: number) => {
    let n = 0;
    let text = '';
    while (n < words.length) {
      const next = words.slice(cursor, cursor + n + 1).map((_, i) => words[(cursor + i) % words.length]).join(' ');
      if (model.tokenizer.encode(next, false).length > tokens && n > 0) break;
      text = next;
      n++;
    }
    cursor += n;
    return text;
  };
  for (const format of opts.formats) {
    for (const turnTokens of opts.turnTokens) {
      const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'perpetua-snapshot-bytes-'));
      const store = new Store(openDatabase(join(dir, 'chat.db'), { walCheckpointBytes: opts.walCheckpointBytes }));
      try {
        const chat = await PersistentChat.open(store, model, { name: 'bench', policy: opts.policy, raw: true, snapshotFormat: format });
        // fill the cache past its capacity: every measured turn evicts
        const capacity = opts.policy.sink + opts.policy.window;
        for await (const ev of chat.send(nextText(Math.round(capacity * 1.2)), { maxTokens: 1, ignoreEos: true, chunk: 256 })) void ev;
        // the first save's pages reach the database file before the measured turns start
        await checkpointAll(store);
        const writes: number[] = [];
        const chars: number[] = [];
        const saved: number[] = [];
        const saveMs: number[] = [];
        const saveTotal: number[] = [];
        const saveCpu: number[] = [];
        const saveWait: number[] = [];
        const turns: { start: number; end: number }[] = [];
        const added: number[] = [];
        const checkpointsBefore = WalCheckpointer.of(store.db)?.checkpoints ?? 0;
        for (let t = 0; t < opts.turns; t++) {
          const before = processIo();
          const seen = chat.engine.policy.totalTokensSeen;
          const start = Date.now() / 1000;
          const half = Math.round(turnTokens / 2);
          for await (const ev of chat.send(nextText(half), { maxTokens: turnTokens - half, ignoreEos: true, sampling: { temperature: 0 } })) void ev;
          const after = processIo();
          added.push(chat.engine.policy.totalTokensSeen - seen);
          turns.push({ start, end: Date.now() / 1000 });
          writes.push(after.writeBytes - before.writeBytes);
          chars.push(after.wchar - before.wchar);
          saved.push(chat.lastSave?.bytes ?? 0);
          saveMs.push(chat.lastSave?.longestStepMs ?? 0);
          saveTotal.push(chat.lastSave?.ms ?? 0);
          saveCpu.push(chat.lastSave?.longestStepCpuMs ?? 0);
          saveWait.push(chat.lastSave?.longestStepWaitMs ?? 0);
        }
        const checkpoints = (WalCheckpointer.of(store.db)?.checkpoints ?? 0) - checkpointsBefore;
        // what the turns left in the WAL reaches the database file at a checkpoint: counted, shared out over the turns
        const settleStart = Date.now() / 1000;
        const beforeSettle = processIo();
        await checkpointAll(store);
        const afterSettle = processIo();
        const settle = { start: settleStart, end: Date.now() / 1000 };
        const share = (xs: number[], n: number) => xs.splice(0, xs.length, ...xs.map((x) => x + n / opts.turns));
        share(writes, afterSettle.writeBytes - beforeSettle.writeBytes);
        share(chars, afterSettle.wchar - beforeSettle.wchar);
        rows.push({
          format,
          turnTokens,
          cacheTokens: chat.engine.policy.length,
          tokensPerTurn: mean(added),
          writeBytes: mean(writes),
          wchar: mean(chars),
          savedBytes: median(saved),
          saveMs: median(saveMs),
          saveMaxMs: Math.max(...saveMs),
          saveTotalMs: median(saveTotal),
          saveCpuMs: median(saveCpu),
          saveCpuMaxMs: Math.max(...saveCpu),
          saveWaitMs: median(saveWait),
          saveWaitMaxMs: Math.max(...saveWait),
          storedBytes: store.chunks.bytesUsed(chat.session.id),
          turns,
          settle,
          checkpoints,
          checkpointMaxMs: WalCheckpointer.of(store.db)?.longestMs ?? 0,
        });
        chat.close();
      } finally {
        store.db.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return rows;
}

/** Waits for the checkpointer's checkpoint under way, then copies all the WAL holds into the database. */
async function checkpointAll(store: Store): Promise<void> {
  await WalCheckpointer.of(store.db)?.settled();
  store.db.pragma('wal_checkpoint(PASSIVE)');
}

/**
 * fsync and fdatasync calls inside each row's turns and its closing checkpoint, per turn (mean: checkpoints come every
 * few dozen turns), from an `strace -f -ttt` log.
 */
export function countFsyncs(trace: string, rows: SnapshotBytesRow[]): void {
  const calls = [...trace.matchAll(/(\d+\.\d+) f(?:data)?sync\(/g)].map((m) => Number(m[1]));
  const within = (t: { start: number; end: number }) => calls.filter((c) => c >= t.start && c <= t.end).length;
  for (const r of rows) r.fsyncs = (r.turns.reduce((n, t) => n + within(t), 0) + within(r.settle)) / r.turns.length;
}
