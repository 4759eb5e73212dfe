import { describe, expect, it } from 'vitest';
import { Sampler, argmax } from './sampler.js';

const logits = Float32Array.from([1, 5, 3, 4.9, -2, 0]);

function histogram(s: Sampler, n: number, recent: number[] = []): Map<number, number> {
  const h = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = s.sample(logits, recent);
    h.set(id, (h.get(id) ?? 0) + 1);
  }
  return h;
}

describe('Sampler', () => {
  it('is greedy at temperature 0 and with top-k 1', () => {
    expect(new Sampler().sample(logits)).toBe(1);
    expect(new Sampler({ temperature: 1.5, topK: 1, seed: 1 }).sample(logits)).toBe(1);
    expect(argmax(logits)).toBe(1);
  });

  it('is reproducible with a seed and varies without the same seed', () => {
    const a = Array.from({ length: 50 }, ((s) => () => s.sample(logits))(new Sampler({ temperature: 1, seed: 42 })));
    const b = Array.from({ length: 50 }, ((s) => () => s.sample(logits))(new Sampler({ temperature: 1, seed: 42 })));
    const c = Array.from({ length: 50 }, ((s) => () => s.sample(logits))(new Sampler({ temperature: 1, seed: 43 })));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('top-k, top-p and min-p keep only the allowed tokens', () => {
    expect([...histogram(new Sampler({ temperature: 1, topK: 2, seed: 3 }), 400).keys()].sort()).toEqual([1, 3]);
    // p(1) ≈ 0.45, p(3) ≈ 0.41, p(2) ≈ 0.06: top-p 0.8 needs tokens 1 and 3 only
    expect([...histogram(new Sampler({ temperature: 1, topP: 0.8, seed: 4 }), 400).keys()].sort()).toEqual([1, 3]);
    // min-p 0.1: tokens within 10% of the best probability (2 is at ≈ 0.135 of it)
    expect([...histogram(new Sampler({ temperature: 1, minP: 0.2, seed: 5 }), 400).keys()].sort()).toEqual([1, 3]);
  });

  it('temperature sharpens and flattens the distribution', () => {
    const cold = histogram(new Sampler({ temperature: 0.1, seed: 6 }), 300);
    const hot = histogram(new Sampler({ temperature: 5, seed: 6 }), 300);
    expect(cold.size).toBeLessThanOrEqual(2);
    expect(hot.size).toBeGreaterThanOrEqual(5);
  });

  it('repetition penalty pushes recently used tokens down', () => {
    expect(new Sampler({ repetitionPenalty: 2 }).sample(logits, [1])).toBe(3);
    expect(new Sampler({ repetitionPenalty: 1 }).sample(logits, [1])).toBe(1);
  });
});
