export interface SamplingOptions {
  /** 0 means greedy */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  /** how many recent tokens the repetition penalty looks at */
  repetitionWindow?: number;
  seed?: number;
}

/**
 * Picks the next token from logits. Filters run in the usual order: repetition penalty, temperature, top-k,
 * min-p, top-p. A seed makes sampling reproducible.
 */
export class Sampler {
  private readonly rand: () => number;
  readonly opts: Required<SamplingOptions>;

  constructor(opts: SamplingOptions = {}) {
    this.opts = {
      temperature: opts.temperature ?? 0,
      topK: opts.topK ?? 0,
      topP: opts.topP ?? 1,
      minP: opts.minP ?? 0,
      repetitionPenalty: opts.repetitionPenalty ?? 1,
      repetitionWindow: opts.repetitionWindow ?? 64,
      seed: opts.seed ?? Date.now() % 2 ** 31,
    };
    this.rand = splitmix(this.opts.seed);
  }

  sample(logits: Float32Array, recent: number[] = []): number {
    const { temperature, topK, topP, minP, repetitionPenalty, repetitionWindow } = this.opts;
    let scores = logits;
    if (repetitionPenalty !== 1 && recent.length) {
      scores = Float32Array.from(logits);
      for (const id of new Set(recent.slice(-repetitionWindow))) {
        const s = scores[id];
        scores[id] = s > 0 ? s / repetitionPenalty : s * repetitionPenalty;
      }
    }
    if (temperature <= 0) return argmax(scores);

    // Candidates: top-k if asked, else every token within e^-30 of the best (negligible mass beyond that).
    const best = scores[argmax(scores)];
    let ids: number[] = [];
    for (let i = 0; i < scores.length; i++) if ((scores[i] - best) / temperature > -30) ids.push(i);
    ids.sort((a, b) => scores[b] - scores[a]);
    if (topK > 0) ids = ids.slice(0, topK);

    let probs = ids.map((id) => Math.exp((scores[id] - best) / temperature));
    let sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
    let keep = probs.length;
    if (minP > 0) {
      const threshold = minP * probs[0];
      keep = Math.max(1, probs.filter((p) => p >= threshold).length);
    }
    if (topP < 1) {
      let cum = 0;
      for (let i = 0; i < keep; i++) {
        cum += probs[i];
        if (cum >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    sum = 0;
    for (let i = 0; i < keep; i++) sum += probs[i];
    let r = this.rand() * sum;
    for (let i = 0; i < keep; i++) {
      r -= probs[i];
      if (r <= 0) return ids[i];
    }
    return ids[keep - 1];
  }
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

function splitmix(seed: number): () => number {
  let s = BigInt(seed) & 0xffffffffffffffffn;
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    z ^= z >> 31n;
    return Number(z >> 11n) / 2 ** 53;
  };
}
