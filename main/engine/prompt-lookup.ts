/**
 * Prompt-lookup drafting (Saxena 2023; transformers' `prompt_lookup_num_tokens`): where the last few tokens of the
 * chat occurred before in its own text, the tokens that followed them then are a guess at what comes next. The
 * guess costs no model: the engine verifies it in one run and keeps the tokens the model would have chosen anyway.
 */
export interface LookupOptions {
  /** tokens that must match before a draft is made (at least 3: shorter matches guess too often wrong) */
  minMatch?: number;
  /** the most tokens one draft proposes */
  maxDraft?: number;
  /** how many of the chat's latest tokens are searched */
  historyTokens?: number;
}

export const DEFAULT_LOOKUP: Required<LookupOptions> = { minMatch: 3, maxDraft: 8, historyTokens: 8192 };

/** The longest match counted when choosing between earlier occurrences. */
const MAX_MATCH = 12;

export class PromptLookup {
  readonly opts: Required<LookupOptions>;
  private history: number[] = [];
  /** draft length now: grows by 2 while drafts are taken whole, shrinks by 1 when one is cut (as in transformers) */
  private length: number;

  constructor(opts: LookupOptions = {}) {
    this.opts = { ...DEFAULT_LOOKUP, ...opts };
    if (this.opts.minMatch < 1 || this.opts.maxDraft < 1) throw new RangeError('A lookup needs a match and a draft of at least one token.');
    this.length = Math.min(4, this.opts.maxDraft);
  }

  get tokens(): number {
    return this.history.length;
  }

  /** Tokens the chat now holds, in order (fed or sampled and kept). */
  push(tokens: readonly number[]): void {
    for (const t of tokens) this.history.push(t);
    // trimmed now and then, not every token
    if (this.history.length > 2 * this.opts.historyTokens) this.history = this.history.slice(-this.opts.historyTokens);
  }

  /** Forgets the last `n` tokens (drafts the model rejected were never pushed, but a caller may take text back). */
  pop(n: number): void {
    this.history.length = Math.max(0, this.history.length - n);
  }

  /**
   * Up to `limit` tokens that followed the latest earlier occurrence of the chat's last minMatch tokens, preferring
   * the occurrence whose match reaches furthest back; [] where there is none.
   */
  draft(limit: number): number[] {
    const h = this.history;
    const n = Math.min(limit, this.length);
    const m = this.opts.minMatch;
    const end = h.length;
    if (n < 1 || end <= m) return [];
    const start = Math.max(0, end - this.opts.historyTokens);
    let best = -1;
    let bestLength = 0;
    // i: where an earlier occurrence of the last m tokens ends (exclusive), newest first
    for (let i = end - 1; i >= start + m; i--) {
      if (h[i - 1] !== h[end - 1]) continue;
      let k = 1;
      while (k < MAX_MATCH && i - k - 1 >= start && h[i - k - 1] === h[end - k - 1]) k++;
      if (k >= m && k > bestLength) {
        best = i;
        bestLength = k;
        if (k === MAX_MATCH) break;
      }
    }
    return best < 0 ? [] : h.slice(best, Math.min(best + n, end));
  }

  /** How the last draft fared: the next one is longer after a draft taken whole, shorter after one cut short. */
  feedback(drafted: number, accepted: number): void {
    if (drafted === 0) return;
    this.length = accepted === drafted ? Math.min(this.opts.maxDraft, this.length + 2) : Math.max(1, this.length - 1);
  }
}
