import type { CachePolicy } from '../engine/cache-policy.js';
import { StreamingDetokenizer, type TextTokenizer } from '../engine/text-tokenizer.js';

/**
 * Follows an answer as its tokens enter the cache, so that it can be checkpointed while it streams: every `every`
 * tokens, once the text the cache holds of the answer is whole and is what was shown (no character cut in two, no
 * text held back for a stop string), it says how many characters of the answer a snapshot taken now covers. It reads
 * the tokens from the cache itself (a token fed without an event, or a draft taken back, is seen as the cache has it).
 */
export class AnswerCheckpoints {
  private readonly start: number;
  private seen: number;
  private next: number;
  private held = '';
  /** the last token decoded to nothing yet (an incomplete character, or a special token) */
  private open = false;
  /** more tokens came in at once than the cache holds: the text is no longer known */
  private lost = false;
  private readonly detok: StreamingDetokenizer;

  constructor(
    private readonly policy: CachePolicy,
    tokenizer: TextTokenizer,
    private readonly every: number,
  ) {
    this.start = this.seen = policy.totalTokensSeen;
    this.next = every;
    this.detok = new StreamingDetokenizer(tokenizer, heldTokens(policy).slice(-6));
  }

  /** Takes in what the cache has seen since the last look (call after each event of the answer). */
  observe(): void {
    const seen = this.policy.totalTokensSeen;
    if (seen <= this.seen || this.lost) return;
    const held = heldTokens(this.policy);
    const count = seen - this.seen;
    this.seen = seen;
    if (count >= held.length) {
      this.lost = true;
      return;
    }
    for (const id of held.slice(-count)) {
      const text = this.detok.push(id);
      this.held += text;
      this.open = text === '';
    }
  }

  /** Characters of `shown` (the answer so far) the cache holds, when a checkpoint is due and they agree; else null. */
  due(shown: string): number | null {
    if (this.lost || this.open || this.seen - this.start < this.next) return null;
    return shown.startsWith(this.held) ? this.held.length : null;
  }

  /** A checkpoint was written: the next is due `every` tokens on. */
  taken(): void {
    this.next = this.seen - this.start + this.every;
  }
}

/** The token ids a cache holds in stream order (a recompute cache holds ids only, as its history). */
function heldTokens(policy: CachePolicy): number[] {
  const c = policy.contents();
  return policy.spec.name === 'recompute' ? c.history : c.tokens;
}
