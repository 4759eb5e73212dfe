import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { KvBuffer } from './kv-buffer.js';
import { Model } from './model.js';

/**
 * The decode path hands the cache's own buffer to onnxruntime every step (zero-copy inputs in onnxruntime-node 1.30
 * and 1.31). onnxruntime's main branch changes the binding to copy CPU inputs into its own storage; a release with
 * that change would copy the whole KV cache every token without any test noticing the speed. This one notices the
 * memory: a run with a 256 MB KV input must not raise the process's peak RSS by anything like 256 MB.
 */

const KB = 1024;

function status(field: 'VmRSS' | 'VmHWM'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))![1]) * KB;
}

/** Resets the peak RSS to the current RSS (Linux's clear_refs "5"); false where the kernel does not allow it. */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

const linux = process.platform === 'linux';

describe.runIf(linux)('KV inputs stay zero-copy', () => {
  let model: Model;
  let buffer: KvBuffer;
  beforeAll(async () => {
    model = await Model.load(testModelDir({ layers: 8, graph: { layout: 'appending' } }));
    // 8 layers × K and V × 2 heads × 16 × 4 bytes = 2 KiB per token: 128 Ki tokens make 256 MiB
    buffer = model.kvEditor!.createBuffer!(128 * 1024);
    // every page written, so the buffer is resident before the run and a copy of it would be new memory
    for (const a of [...buffer.keys, ...buffer.values]) (a as Float32Array).fill(0.01);
    await model.forward([1, 2, 3, 4], [0, 1, 2, 3], buffer); // the session's own buffers are planned here
  });
  afterAll(() => model?.dispose());

  it('a decode step over a 256 MiB KV buffer adds well under a tenth of it to the peak RSS', async () => {
    expect(buffer.bytes).toBeGreaterThanOrEqual(256 * KB * KB);
    expect(resetPeak(), 'this kernel lets a process reset its peak RSS').toBe(true);
    const before = status('VmRSS');
    const { logits } = await model.forward([5], [4], buffer);
    const peak = status('VmHWM');
    expect(logits.length).toBe(model.vocabSize);
    expect(buffer.length).toBe(5);
    // a copy of the inputs would need buffer.bytes more at the peak of the run
    expect(peak - before).toBeLessThan(buffer.bytes / 10);
  });

  it('and the check sees such a copy: the same run with the KV copied into new arrays first', async () => {
    expect(resetPeak()).toBe(true);
    const before = status('VmRSS');
    const copies = buffer.compact(); // what a copying binding would allocate, here done by hand: valid rows only…
    const padded = [...buffer.keys, ...buffer.values].map((a) => Float32Array.from(a as Float32Array)); // …and whole
    const peak = status('VmHWM');
    expect(copies.length + padded.length).toBeGreaterThan(0);
    expect(peak - before).toBeGreaterThan(buffer.bytes / 2);
  });
});
