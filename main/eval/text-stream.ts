import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { TextTokenizer } from '../engine/text-tokenizer.js';
import { PerpetuaError } from '../shared/errors.js';

export class EvalInputError extends PerpetuaError {
  override readonly code = 'invalid_input';
}

export interface TextStream {
  file: string;
  sha256: string;
  chars: number;
  /** the first `count` tokens of the text, BOS first */
  tokens: number[];
}

/**
 * The first `count` tokens of a text file (with the tokenizer's BOS, after `prefix`: the model's pre-trained sink
 * token when it has one). Only a prefix comfortably longer than needed
 * is encoded (a whole book takes seconds); the cut is at a line break far past the last token kept.
 */
export function readTextStream(file: string, tokenizer: TextTokenizer, count: number, prefix: number[] = []): TextStream {
  const text = readTextFile(file);
  const sha256 = createHash('sha256').update(text).digest('hex');
  let chars = Math.min(text.length, count * 8 + 4096);
  for (;;) {
    let end = chars;
    if (end < text.length) {
      const nl = text.lastIndexOf('\n', end);
      if (nl > end / 2) end = nl;
    }
    const ids = [...prefix, ...tokenizer.encode(text.slice(0, end), true)];
    // A margin of tokens past the cut keeps the kept ones identical to encoding the whole text.
    if (ids.length >= count + 64 || end >= text.length) {
      if (ids.length < count) {
        throw new EvalInputError(
          `${file} has only ${ids.length} tokens with this model's tokenizer, fewer than the ${count} needed; lower --tokens.`,
        );
      }
      return { file, sha256, chars: text.length, tokens: ids.slice(0, count) };
    }
    chars = Math.min(text.length, chars * 2);
  }
}

export function readTextFile(file: string): string {
  if (!existsSync(file)) throw new EvalInputError(`The text file ${file} does not exist.`);
  if (!statSync(file).isFile()) throw new EvalInputError(`${file} is not a text file.`);
  const text = readFileSync(file, 'utf8');
  if (!text.trim()) throw new EvalInputError(`The text file ${file} is empty.`);
  return text;
}
