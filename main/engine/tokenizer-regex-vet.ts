import { ModelLoadError } from './errors.js';

/**
 * tokenizer.json patterns (pre-tokenizer Split, normalizer Replace, …) run on every prompt on the core's thread, where
 * a regex cannot be stopped. So a tokenizer is refused at load when one of its patterns can backtrack exponentially
 * (a repeated group that itself repeats or chooses, like `(a+)+$` or `(a|a)*`, or a backreference), and when one is
 * merely slow — probed on a few long, awkward texts against a time budget. Real pre-tokenizers (GPT-2, Llama 3, Qwen,
 * o200k) repeat single characters or classes only, and pass.
 */
export function vetTokenizerRegexes(tokenizerJson: unknown, probeBudgetMs = PROBE_BUDGET_MS): void {
  for (const { pattern, where } of tokenizerRegexes(tokenizerJson)) {
    const danger = backtrackingHazard(pattern);
    if (danger) {
      throw new ModelLoadError(
        `its ${where} pattern ${clip(pattern)} can backtrack without end (${danger}), which would freeze Perpetua on some prompts`,
      );
    }
    const slow = slowProbe(pattern, probeBudgetMs);
    if (slow) throw new ModelLoadError(`its ${where} pattern ${clip(pattern)} took ${slow} ms on test texts of up to ${PROBE_CHARS} characters, more than the ${probeBudgetMs} ms allowed`);
  }
}

/** Time one pattern may take over all probes (a real pre-tokenizer takes about a millisecond). */
export const PROBE_BUDGET_MS = 500;
const PROBE_CHARS = 4096;

/** Every `{ Regex: "…" }` in the tokenizer, with where it sits (pre_tokenizer, normalizer, decoder…). */
export function tokenizerRegexes(json: unknown): { pattern: string; where: string }[] {
  const found: { pattern: string; where: string }[] = [];
  const walk = (node: unknown, where: string, depth: number): void => {
    if (depth > 64 || typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n, where, depth + 1);
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'vocab' || key === 'merges' || key === 'added_tokens') continue; // data, not patterns (and huge)
      if (key === 'Regex' && typeof value === 'string') found.push({ pattern: value, where });
      else walk(value, depth === 0 ? key.replace(/_/g, '-') : where, depth + 1);
    }
  };
  walk(json, 'tokenizer', 0);
  return found;
}

/**
 * Why a pattern can backtrack exponentially, or null: an unbounded quantifier on a group that holds another
 * unbounded quantifier or a choice, or a backreference. A scan, not a parser: escapes, `\p{…}` and classes are skipped.
 */
export function backtrackingHazard(p: string): string | null {
  // `run`: unbounded repeats in the current alternative; each more one multiplies the work on a failing text by its length
  type Group = { start: number; repeats: boolean; chooses: boolean; run: number };
  const stack: Group[] = [{ start: 0, repeats: false, chooses: false, run: 0 }];
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      const n = p[i + 1];
      if (n !== undefined && /[1-9k]/.test(n)) return 'a backreference';
      if (n !== undefined && 'pPux'.includes(n) && p[i + 2] === '{') i = Math.max(i + 1, p.indexOf('}', i));
      else i++;
      continue;
    }
    if (c === '[') {
      i = classEnd(p, i);
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === '(') {
      stack.push({ start: i, repeats: false, chooses: false, run: 0 });
      continue;
    }
    if (c === '|') {
      top.chooses = true;
      top.run = 0;
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) continue; // unbalanced: the regex engine will say so
      const group = stack.pop()!;
      const q = quantifier(p, i + 1);
      if ((q.many && group.repeats) || (q.unbounded && group.chooses)) {
        return `${clip(p.slice(group.start, i + 1 + q.length), 40)} repeats a group that ${group.repeats ? 'itself repeats' : 'chooses between alternatives'}`;
      }
      const parent = stack[stack.length - 1];
      parent.repeats ||= group.repeats || q.unbounded;
      parent.run += group.run + (q.unbounded ? 1 : 0);
      if (parent.run > MAX_RUN) return `${MAX_RUN + 1} or more repeats in a row`;
      i += Math.max(0, q.length - 1);
      continue;
    }
    const q = quantifier(p, i);
    if (q.length > 0) {
      top.repeats ||= q.unbounded;
      if (q.unbounded && ++top.run > MAX_RUN) return `${MAX_RUN + 1} or more repeats in a row`;
      i += q.length - 1;
    }
  }
  return null;
}

/** Unbounded repeats one alternative may chain (real pre-tokenizers chain two). */
const MAX_RUN = 3;

/**
 * The quantifier starting at `i` (with its lazy/possessive suffix): whether it repeats without a small bound, and
 * whether it repeats at all (`{20}` on a group that repeats is a polynomial of degree 20).
 */
function quantifier(p: string, i: number): { length: number; unbounded: boolean; many: boolean } {
  const c = p[i];
  let length = 0;
  let unbounded = false;
  let many = false;
  if (c === '*' || c === '+') {
    length = 1;
    unbounded = many = true;
  } else if (c === '?') {
    length = 1;
  } else if (c === '{') {
    const m = /^\{(\d*)(,(\d*))?\}/.exec(p.slice(i, i + 24));
    if (!m) return { length: 0, unbounded: false, many: false };
    length = m[0].length;
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    unbounded = max > 16;
    many = max > 1;
  } else {
    return { length: 0, unbounded: false, many: false };
  }
  if (p[i + length] === '?' || p[i + length] === '+') length++;
  return { length, unbounded, many };
}

/** The index of the `]` closing the class opened at `i` (nested POSIX-style classes counted). */
function classEnd(p: string, i: number): number {
  let depth = 0;
  for (let j = i; j < p.length; j++) {
    if (p[j] === '\\') j++;
    else if (p[j] === '[') depth++;
    else if (p[j] === ']' && --depth === 0) return j;
  }
  return p.length;
}

/**
 * Runs of what patterns repeat (letters, spaces, digits, marks), each ending in a character that fails a match, at
 * doubling lengths up to PROBE_CHARS: a slow pattern shows its cost on a short probe before a long one could stall.
 */
function* probes(): Generator<string> {
  for (let n = 64; n <= PROBE_CHARS; n *= 2) {
    yield* ['a'.repeat(n) + '!', ' '.repeat(n) + 'x', '1'.repeat(n) + 'a', 'a '.repeat(n / 2) + '\u0000', '\n \t'.repeat(n / 4) + 'é', "'".repeat(n) + 'x'];
  }
}

/** Milliseconds the probes took when over budget, else null (patterns JavaScript cannot compile are left to the tokenizer). */
function slowProbe(pattern: string, budgetMs: number): number | null {
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'gu');
  } catch {
    return null;
  }
  const start = performance.now();
  for (const text of probes()) {
    for (const _ of text.matchAll(re)) {
      if (performance.now() - start > budgetMs) return Math.round(performance.now() - start);
    }
  }
  const took = performance.now() - start;
  return took > budgetMs ? Math.round(took) : null;
}

function clip(s: string, max = 60): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}
