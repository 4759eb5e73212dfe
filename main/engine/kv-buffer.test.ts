import { describe, expect, it } from 'vitest';
import { KvBuffer } from './kv-buffer.js';

const g = { layers: 2, kvHeads: 3, headDim: 4 };

/** A buffer of `n` tokens whose every element names its layer, K or V, head, token and dim. */
function numbered(capacity: number, n: number): KvBuffer {
  const b = new KvBuffer(g, capacity, 'float32');
  const rows = Array.from({ length: g.layers }, (_, l) => {
    const make = (kv: number) => Float32Array.from({ length: g.kvHeads * n * g.headDim }, (_, i) => {
      const [h, t, d] = [Math.floor(i / (n * g.headDim)), Math.floor(i / g.headDim) % n, i % g.headDim];
      return l * 1e6 + kv * 1e5 + h * 1e4 + t * 10 + d;
    });
    return { key: make(0), value: make(1) };
  });
  b.append(rows, n);
  return b;
}

/** The token each layer's key and value rows hold, in the compacted order (from the numbering above). */
function tokensOf(b: KvBuffer): number[][] {
  return b.compact().flatMap((l) => [l.key, l.value]).map((a) => {
    const perHead = b.length * g.headDim;
    return Array.from({ length: b.length }, (_, t) => {
      for (let h = 0; h < g.kvHeads; h++) {
        for (let d = 0; d < g.headDim; d++) expect(a[h * perHead + t * g.headDim + d] % 1e4 % 10).toBe(d);
      }
      return Math.floor((a[t * g.headDim] % 1e4) / 10);
    });
  });
}

describe('KvBuffer.drop', () => {
  it('refills the dropped rows from the end: at most `count` rows move, and compact keeps token order', () => {
    const b = numbered(32, 20);
    const moves = b.drop(4, 6);
    expect(b.length).toBe(14);
    expect(moves).toHaveLength(6);
    for (const [from, to] of moves) expect(from >= 14 && to >= 4 && to < 10).toBe(true);
    const order = [0, 1, 2, 3, ...Array.from({ length: 10 }, (_, i) => 10 + i)];
    for (const tokens of tokensOf(b)) expect(tokens).toEqual(order);
    expect(Array.from({ length: 14 }, (_, i) => b.slotOf(i)).sort((x, y) => x - y)).toEqual(Array.from({ length: 14 }, (_, i) => i));
  });

  it('keeps the order through repeated drops and appends, as a sink cache does', () => {
    const b = numbered(16, 16);
    let expected = Array.from({ length: 16 }, (_, i) => i);
    let next = 16;
    for (let round = 0; round < 5; round++) {
      b.drop(2, 3);
      expected.splice(2, 3);
      // three new tokens, numbered on in the same scheme
      const rows = Array.from({ length: g.layers }, (_, l) => {
        const make = (kv: number) => Float32Array.from({ length: g.kvHeads * 3 * g.headDim }, (_, i) => {
          const [h, t, d] = [Math.floor(i / (3 * g.headDim)), Math.floor(i / g.headDim) % 3, i % g.headDim];
          return l * 1e6 + kv * 1e5 + h * 1e4 + (next + t) * 10 + d;
        });
        return { key: make(0), value: make(1) };
      });
      b.append(rows, 3);
      expected = [...expected, next, next + 1, next + 2];
      next += 3;
      for (const tokens of tokensOf(b)) expect(tokens).toEqual(expected);
    }
  });

  it('moves nothing when the dropped tokens are the last ones, and refuses a range it does not hold', () => {
    const b = numbered(8, 8);
    expect(b.drop(5, 3)).toEqual([]);
    expect(tokensOf(b)[0]).toEqual([0, 1, 2, 3, 4]);
    expect(() => b.drop(3, 3)).toThrow(RangeError);
    expect(() => b.setLength(4)).toThrow(RangeError); // a shorter length would leave a moved row outside the valid ones
  });
});
