import { describe, expect, it } from 'vitest';
import { benchSearch } from './search-bench.js';

describe('bench search', () => {
  it('upgrades a database to the trigram index with progress and times every query', () => {
    const progress: string[] = [];
    const r = benchSearch({ messages: 600, repeats: 1, onProgress: (what, done, total) => progress.push(`${what} ${done}/${total}`) });
    expect(progress).toContain('index built 600/600');
    expect(r.messages).toBe(600);
    const hits = Object.fromEntries(r.queries.map((q) => [q.query, q.hits]));
    // the built-in samples stand in for the corpora here: their words are found, inside sentences and words
    expect(hits['窗']).toBeGreaterThan(0);
    expect(hits['滑动窗口']).toBeGreaterThan(0);
    expect(hits['erman']).toBeGreaterThan(0);
    expect(hits['zzqx']).toBe(0);
    expect(r.medianMs).toBeGreaterThan(0);
  });
});
