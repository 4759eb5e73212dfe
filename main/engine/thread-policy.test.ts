import { describe, expect, it } from 'vitest';
import { Model } from './model.js';
import { defaultThreads, describeThreads, parseThreads, resolveThreads } from './thread-policy.js';
import { testModelDir } from '../../native-models/test-models.js';

describe('thread policy', () => {
  it('defaults to one thread on small machines and half the cores (at most 4) on larger ones', () => {
    expect([1, 2, 4, 8, 16, 64].map((c) => defaultThreads(c))).toEqual([1, 1, 2, 4, 4, 4]);
  });

  it('takes a count or decode,prefill counts from the option, else PERPETUA_THREADS, and refuses nonsense', () => {
    expect(parseThreads('3')).toEqual({ decode: 3, prefill: 3 });
    expect(parseThreads('1,2')).toEqual({ decode: 1, prefill: 2 });
    expect(resolveThreads('2', { PERPETUA_THREADS: '1' })).toEqual({ decode: 2, prefill: 2, source: 'option' });
    expect(resolveThreads(undefined, { PERPETUA_THREADS: '1,2' })).toEqual({ decode: 1, prefill: 2, source: 'environment' });
    expect(resolveThreads(undefined, {}).source).toBe('default');
    for (const bad of ['0', 'two', '1,2,3', '1.5', '']) expect(() => parseThreads(bad), bad).toThrow(/Threads must be/);
  });

  it('a separate prefill session computes the same logits as the decode session', async () => {
    const one = await Model.load(testModelDir(), { threads: '1' });
    const two = await Model.load(testModelDir(), { threads: '1,2' });
    expect(describeThreads(one.threads)).toBe('1 thread for decode, 1 for prefill (one session; option)');
    expect(describeThreads(two.threads)).toBe('1 thread for decode, 2 for prefill (a second session for prefill; option)');
    const ids = [1, 5, 9, 14, 20];
    const a = await one.forward(ids, ids.map((_, i) => i), []);
    const b = await two.forward(ids, ids.map((_, i) => i), []);
    let worst = 0;
    for (let i = 0; i < a.logits.length; i++) worst = Math.max(worst, Math.abs(a.logits[i] - b.logits[i]));
    expect(worst).toBeLessThan(1e-5);
    await Promise.all([one.dispose(), two.dispose()]);
  });
});
