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
  /**
   * what one more token in a run costs, as a share of a one-token run, until runs are timed (135M shape, 4-bit, one
   * CPU thread: 2 tokens 1.24×, 5 tokens 2.1×, 9 tokens 3.0× a one-token run)
   */
  tokenCost?: number;
  /** learn the cost from the runs' timings (default); off: tokenCost always, so the drafts depend on the text alone */
  timed?: boolean;
}

export const DEFAULT_LOOKUP: Required<LookupOptions> = { minMatch: 3, maxDraft: 8, historyTokens: 8192, tokenCost: 0.25, timed: true };

/** The longest match counted when choosing between earlier occurrences. */
const MAX_MATCH = 12;

/** Weight of the past in the running estimates (per verify run, per timed run). */
const DECAY = 0.9;

/**
 * The chat's token history and the choice of how much to draft. A draft of d tokens wins when the tokens it is
 * expected to add, 1 + p + … + p^d for a per-token acceptance p, beat what the run costs, 1 + c·d one-token runs.
 * p is estimated from the drafts so far (the chat's own rate: quoting text accepts most, fresh prose little) and c
 * from the runs' own timings, so drafting stops where it would lose and lengthens where it pays.
 */
export class PromptLookup {
  readonly opts: Required<LookupOptions>;
  private history: number[] = [];
  /** decayed counts of drafted tokens kept and cut, with a prior of one each */
  private kept = 1;
  private cut = 1;
  /** running mean of one-token runs' ms and of the extra ms per token of longer runs */
  private oneMs = 0;
  private extraMs = 0;

  constructor(opts: LookupOptions = {}) {
    this.opts = { ...DEFAULT_LOOKUP, ...opts };
    if (this.opts.minMatch < 1 || this.opts.maxDraft < 1) throw new RangeError('A lookup needs a match and a draft of at least one token.');
  }

  get tokens(): number {
    return this.history.length;
  }

  /** the estimated chance that a drafted token is kept */
  get acceptance(): number {
    return this.kept / (this.kept + this.cut);
  }

  /** what one more token in a run costs, as a share of a one-token run (timed, else the option) */
  get tokenCost(): number {
    return this.oneMs > 0 && this.extraMs > 0 ? Math.min(1, Math.max(0.02, this.extraMs / this.oneMs)) : this.opts.tokenCost;
  }

  /** Tokens the chat now holds, in order (fed or sampled and kept). */
  push(tokens: readonly number[]): void {
    for (const t of tokens) this.history.push(t);
    // trimmed now and then, not every token
    if (this.history.length > 2 * this.opts.historyTokens) this.history = this.history.slice(-this.opts.historyTokens);
  }

  /** Forgets the last `n` tokens. */
  pop(n: number): void {
    this.history.length = Math.max(0, this.history.length - n);
  }

  /** The draft length worth running now, at most `limit`: 0 where no draft is expected to pay. */
  draftLength(limit: number): number {
    const p = this.acceptance;
    const c = this.tokenCost;
    let best = 0;
    let bestRate = 1;
    let expected = 1;
    for (let d = 1; d <= Math.min(limit, this.opts.maxDraft); d++) {
      expected += p ** d;
      const rate = expected / (1 + c * d);
      if (rate > bestRate) [best, bestRate] = [d, rate];
    }
    return best;
  }

  /**
   * Up to `limit` tokens that followed the latest earlier occurrence of the chat's last minMatch tokens, preferring
   * the occurrence whose match reaches furthest back, as many as are expected to pay; [] where there is none.
   */
  draft(limit: number): number[] {
    const h = this.history;
    const m = this.opts.minMatch;
    const end = h.length;
    if (limit < 1 || end <= m) return [];
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
    if (best < 0) return [];
    const n = this.draftLength(limit);
    if (n === 0) {
      // not worth it at the estimated rate: the estimate drifts back toward the prior, so drafting is tried again
      this.kept = 1 + (this.kept - 1) * 0.98;
      this.cut = 1 + (this.cut - 1) * 0.98;
      return [];
    }
    return h.slice(best, Math.min(best + n, end));
  }

  /** How a draft fared: `accepted` of `drafted` tokens kept (a draft is cut at its first rejected token). */
  feedback(drafted: number, accepted: number): void {
    if (drafted === 0) return;
    this.kept = 1 + (this.kept - 1) * DECAY + accepted;
    this.cut = 1 + (this.cut - 1) * DECAY + (accepted < drafted ? 1 : 0);
  }

  /** The time a run of `tokens` tokens took: what drafting costs on this model and machine. */
  observeRun(tokens: number, ms: number): void {
    if (!this.opts.timed) return;
    if (tokens === 1) this.oneMs = this.oneMs ? DECAY * this.oneMs + (1 - DECAY) * ms : ms;
    else if (this.oneMs > 0) {
      const extra = Math.max(0, (ms - this.oneMs) / (tokens - 1));
      this.extraMs = this.extraMs ? DECAY * this.extraMs + (1 - DECAY) * extra : extra;
    }
  }
}
