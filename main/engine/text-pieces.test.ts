import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { TextTokenizer } from './text-tokenizer.js';

const corpus = join(process.cwd(), '..', 'shared', 'corpora', 'pg19-test-10321-dragons-blood.txt');

function tokenizerOf(dir: string): TextTokenizer {
  const meta = fixtureAvailable(dir) && !readdirHas(dir, 'tokenizer.json') ? join(dir, 'hf') : dir;
  const read = (f: string) => JSON.parse(readFileSync(join(meta, f), 'utf8'));
  return new TextTokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
}

function readdirHas(dir: string, file: string): boolean {
  try {
    readFileSync(join(dir, file));
    return true;
  } catch {
    return false;
  }
}

/** A long text: the book beside the checkout when present, else seeded words. */
function longText(chars: number): string {
  let text = '';
  try {
    text = readFileSync(corpus, 'utf8');
  } catch {
    let x = 7;
    while (text.length < chars) text += `word${(x = (x * 48271) % 2147483647) % 997} ${x % 13 === 0 ? '\n' : ''}`;
  }
  while (text.length < chars) text += `\n${text}`;
  return text.slice(0, chars);
}

describe('encodePieces (a long paste tokenized a piece at a time)', () => {
  const cases = [['generated tiny model', testModelDir()], ...(fixtureAvailable(FIXTURES.tinystories) ? [['tinystories-656k', FIXTURES.tinystories]] : [])];
  for (const [name, dir] of cases) {
    it(`${name}: the pieces cover the text exactly and decode to what the whole text decodes to`, () => {
      const tok = tokenizerOf(dir);
      const text = longText(40_000);
      const pieces = [...tok.encodePieces(text, true, 1024)];
      expect(pieces.length).toBeGreaterThan(20);
      expect(pieces.reduce((n, p) => n + p.chars, 0)).toBe(text.length);
      const ids = pieces.flatMap((p) => p.ids);
      const whole = tok.encode(text, true);
      expect(tok.decode(ids)).toBe(tok.decode(whole));
      // only merges across a cut space can differ: a handful per piece at most
      expect(Math.abs(ids.length - whole.length)).toBeLessThanOrEqual(pieces.length * 3);
    });
  }
});
