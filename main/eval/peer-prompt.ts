import { mulberry32 } from '../../native-models/seeded-random.js';

/** A deterministic prompt of token ids (BOS first) for speed runs: random weights make any text equally good. */
export function syntheticIds(count: number, vocabSize: number, bos: number, seed = 7): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => (i === 0 ? bos : 3 + Math.floor(rand() * (vocabSize - 3))));
}
