import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PersistentChat, type RestoreReport } from '../core/persistent-chat.js';
import type { Model } from '../engine/model.js';
import { defaultPolicyFor } from '../policy/policy.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { percentile } from './percentile.js';

export interface BranchBenchResult {
  turns: number;
  /** tokens the branch switched to holds */
  branchTokens: number;
  /** median ms of a switch that restores the branch's own snapshot (and re-reads nothing) */
  snapshotMs: number;
  /** median ms of the same switch with no snapshot: the branch is re-read */
  rereadMs: number;
}

/**
 * Going between two branches of a long chat (its last turn edited): from each branch's KV snapshot versus re-reading
 * the branch, as `chat.switchBranch` does with and without one.
 */
export async function benchBranches(model: Model, paragraphs: string[], repeats = 5): Promise<BranchBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-branch-bench-'));
  const store = new Store(openDatabase(join(dir, 'bench.db')));
  const chat = await PersistentChat.open(store, model, { name: 'bench', policy: defaultPolicyFor(model.config.maxPositions), keepSnapshots: 8 });
  const opts = { maxTokens: 16, sampling: { temperature: 0 } };
  try {
    for (const p of paragraphs) for await (const ev of chat.send(p, opts)) void ev;
    const first = store.listMessages(chat.session.id).at(-2)!;
    for await (const ev of chat.edit(first.id, 'And how does it end?', opts)) void ev;
    const second = store.listMessages(chat.session.id).at(-2)!;
    const switches = async (expect: RestoreReport['kind']) => {
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) {
        for (const to of [first, second]) {
          const t = performance.now();
          const report = await chat.showBranch(to.id);
          times.push(performance.now() - t);
          if (report?.kind !== expect || (expect === 'resumed' && report.reread > 0)) throw new Error(`A switch ${report?.kind ?? 'did nothing'}, not ${expect}.`);
        }
      }
      return percentile(times, 0.5);
    };
    const snapshotMs = await switches('resumed');
    store.deleteSnapshots(chat.session.id);
    const rereadMs = await switches('rebuilt');
    return { turns: paragraphs.length, branchTokens: chat.engine.policy.totalTokensSeen, snapshotMs, rereadMs };
  } finally {
    chat.close();
    chat.engine.policy.dispose();
    store.db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
