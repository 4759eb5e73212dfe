/**
 * The README's main job on a fresh clone with nothing beside it (no ../shared): it must write English with the
 * built-in model, the same text on every run (greedy decoding).
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from './default-model.js';

const root = packageRoot();
const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** `./build/setup.sh && npx perpetua generate …`: the part after set-up, exactly as the README prints it. */
const mainCommand = /^\.\/build\/setup\.sh && (npx perpetua generate .*)$/m.exec(readme)?.[1];
const dictionary = new Set<string>((createRequire(import.meta.url)('an-array-of-english-words') as string[]));

/** Share of the words in `text` that are English dictionary words (possessives and case folded). */
export function dictionaryShare(text: string): { words: number; share: number } {
  const words = (text.match(/[A-Za-z]+(?:'[A-Za-z]+)?/g) ?? []).map((w) => w.toLowerCase().replace(/'s$/, ''));
  const known = words.filter((w) => dictionary.has(w) || dictionary.has(w.replace(/'/g, ''))).length;
  return { words: words.length, share: words.length ? known / words.length : 0 };
}

/** A 4-character run repeated 10 times in a row ("imeimeime…", "ldldld…"): the random model's signature. */
export const stutter = /(.{4})\1{9}/s;

describe('the README main job on a clean clone', () => {
  let clone = '';
  let outputs: string[] = [];

  beforeAll(() => {
    expect(mainCommand, 'README shows the main command after ./build/setup.sh &&').toBeTruthy();
    const parent = mkdtempSync(join(tmpdir(), 'perpetua-clone-'));
    clone = join(parent, 'perpetua');
    execFileSync('git', ['clone', '--quiet', '--no-hardlinks', root, clone]);
    // The set-up step's result, without the network: the same node_modules, then the build `npm ci` runs.
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
    execFileSync(process.execPath, [join(clone, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: clone,
    });
    const env = { ...process.env, PERPETUA_MODEL: '' };
    delete env.PERPETUA_MODEL;
    outputs = [0, 1].map(() => execSync(mainCommand!, { cwd: clone, env, encoding: 'utf8', timeout: 120_000 }));
  }, 240_000);

  afterAll(() => rmSync(join(clone, '..'), { recursive: true, force: true }));

  it('prints English: dictionary words, no stutter', () => {
    const text = outputs[0];
    const { words, share } = dictionaryShare(text);
    expect(words).toBeGreaterThan(100);
    expect(share).toBeGreaterThan(0.8);
    expect(text).not.toMatch(stutter);
  });

  it('is deterministic', () => {
    expect(outputs[1]).toBe(outputs[0]);
  });

  it('the checks tell the random-weight model apart', () => {
    const gibberish = `imeimeimeimerererererere${'ld'.repeat(24)} and so`; // what the random-weight model printed
    expect(gibberish).toMatch(stutter);
    expect(dictionaryShare('Ime rere lda, ok wimbo trellt gorp.').share).toBeLessThan(0.5);
    expect(dictionaryShare("The king's daughter walked into the garden.").share).toBe(1);
  });
});
