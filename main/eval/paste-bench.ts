import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRestore, PersistentChat } from '../core/persistent-chat.js';
import type { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';

export interface PasteBenchResult {
  chars: number;
  tokens: number;
  /** from send to the first answer token: storing, tokenizing and reading the paste */
  readMs: number;
  /** CPU time of this process over the same span (all threads) */
  readCpuMs: number;
  progressEvents: number;
  /** RSS with the model loaded, before the paste, and the most seen while it was read */
  baselineRssMiB: number;
  peakRssMiB: number;
  /** reopening the session afterwards, and what it said */
  reopenMs: number;
  reopenNotice: string;
}

/**
 * One paste of `text` into a stored chat session (sink policy, 4+1020), as `perpetua chat` sends it: where the
 * time and memory go, and whether a reopen reads the paste again.
 */
export async function benchPaste(model: Model, text: string, onProgress: (done: number, total: number) => void): Promise<PasteBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-paste-'));
  const policy = { name: 'sink' as const, sink: 4, window: 1020, pinSystem: false, evictChunk: 64 };
  try {
    const store = new Store(openDatabase(join(dir, 'paste.db')));
    const chat = await PersistentChat.open(store, model, { name: 'paste', policy });
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    const baselineRssMiB = rss();
    let peakRssMiB = baselineRssMiB;
    const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, rss())), 50);
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    let readMs = 0;
    let readCpuMs = 0;
    let tokens = 0;
    let progressEvents = 0;
    try {
      for await (const ev of chat.send(text, { maxTokens: 1, chunk: 256 })) {
        if (ev.type === 'prefill') {
          progressEvents++;
          tokens = ev.done;
          onProgress(ev.done, ev.total);
        } else if (ev.type !== 'started' && !readMs) {
          // 'started' (both messages stored) comes before the paste is read; the next event is the answer's
          readMs = performance.now() - started;
          const cpu = process.cpuUsage(cpuStart);
          readCpuMs = (cpu.user + cpu.system) / 1000;
        }
      }
    } finally {
      clearInterval(sampler);
    }
    peakRssMiB = Math.max(peakRssMiB, rss());
    chat.close();
    const reopened = performance.now();
    const again = await PersistentChat.open(store, model, { name: 'paste' });
    const reopenNotice = describeRestore('paste', again.restored).join(' ');
    const reopenMs = performance.now() - reopened;
    again.close();
    store.db.close();
    return { chars: text.length, tokens, readMs, readCpuMs, progressEvents, baselineRssMiB, peakRssMiB, reopenMs, reopenNotice };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
