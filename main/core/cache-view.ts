/**
 * What the model still sees of a conversation: where in the transcript the cache's memory begins, and which
 * turns its kept head (attention sinks, a pinned first turn) belongs to. The cache knows token positions in the
 * stream, the store knows messages: each message's share of the stream is its tokens plus the chat template's
 * per-turn wrapping, counted from the newest token backwards (where the window is) and from the first forwards
 * (where the sinks are).
 */
import type { CachePolicy } from '../engine/cache-policy.js';
import type { Model } from '../engine/model.js';
import type { Store } from '../store/store.js';
import type { Message, Session } from '../store/types.js';

export interface CacheView {
  /** seq of the oldest message the model still sees (at least its end); null when it sees the whole stream */
  heldFromSeq: number | null;
  /** tokens of that message still held (its end), when only part of it is */
  heldTokensOfFirst: number | null;
  /** tokens the model no longer sees */
  evictedTokens: number;
  /** leading tokens kept for ever (sinks, or a pinned first turn) */
  keptTokens: number;
  /** seqs of the messages (partly) inside the kept head */
  keptSeqs: number[];
  /** the system prompt's state: in the kept head, in view, or forgotten; null without a system prompt */
  system: 'kept' | 'seen' | 'forgotten' | null;
}

/** Counts a message's tokens in the stream, remembering each message's count (a book-sized paste is encoded once). */
export class StreamTokenCounter {
  private readonly counts = new Map<number, { length: number; tokens: number }>();
  private readonly userWrap: number;
  private readonly answerWrap: number;

  constructor(private readonly model: Model) {
    const t = model.template;
    const len = (s: string) => model.tokenizer.encode(s).length;
    if (!t.hasTemplate) {
      this.userWrap = Math.max(0, len('x\n') - len('x'));
      this.answerWrap = 0;
      return;
    }
    const asked = t.render([{ role: 'user', content: 'x' }], true);
    const answered = t.render([{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }], false);
    this.userWrap = Math.max(0, len(asked) - len('x'));
    this.answerWrap = Math.max(0, len(answered) - len(asked) - len('y'));
  }

  /** `generated`: tokens the answer streamed (exact), else its text is encoded. */
  count(m: Pick<Message, 'id' | 'role' | 'text' | 'tokenCount'>, generated?: number): number {
    if (m.role === 'assistant' && (generated ?? m.tokenCount) > 0) return (generated ?? m.tokenCount) + this.answerWrap;
    const hit = this.counts.get(m.id);
    if (hit && hit.length === m.text.length) return hit.tokens;
    const tokens = this.model.tokenizer.encode(m.text).length + (m.role === 'assistant' ? this.answerWrap : this.userWrap);
    this.counts.set(m.id, { length: m.text.length, tokens });
    return tokens;
  }

  system(prompt: string): number {
    return prompt ? this.model.tokenizer.encode(prompt).length + this.userWrap : 0;
  }
}

/** The turn in flight: its prompt's tokens fed so far (exact, as the prefill reports them) and its answer's. */
export interface StreamingTurn {
  messageId: number;
  generated: number;
  promptId?: number;
  promptFed: number;
  /** the cache's tokens seen when the turn began */
  seenAtStart: number;
}

export interface ViewInput {
  policy: CachePolicy;
  /** the transcript newest first (read only as far as the window reaches), and its first few messages */
  newestFirst: Iterable<Message>;
  first: Message[];
  systemPrompt: string;
  counter: StreamTokenCounter;
  streaming?: StreamingTurn;
}

export function cacheView(input: ViewInput): CacheView {
  const { policy, counter } = input;
  const contents = policy.contents();
  const seen = policy.totalTokensSeen;
  const kept = Math.min(contents.sinks, contents.originalPositions.length);
  // a tokens-only cache (recompute) holds the last history.length tokens
  const windowStart = contents.originalPositions.length ? (contents.originalPositions[kept] ?? seen) : seen - contents.history.length;
  const evicted = Math.max(0, windowStart - kept);
  const turn = input.streaming;
  const count = (m: Message) =>
    m.id === turn?.promptId ? turn.promptFed : counter.count(m, m.id === turn?.messageId ? turn.generated : undefined);

  let heldFromSeq: number | null = null;
  let heldTokensOfFirst: number | null = null;
  if (evicted > 0) {
    let end = seen;
    for (const m of input.newestFirst) {
      const start = end - count(m);
      heldFromSeq = m.seq;
      if (start <= windowStart) {
        heldTokensOfFirst = start < windowStart ? end - windowStart : null;
        break;
      }
      end = start;
    }
  }

  const systemTokens = counter.system(input.systemPrompt);
  const keptSeqs: number[] = [];
  let pos = systemTokens;
  for (const m of input.first) {
    if (pos >= kept) break;
    keptSeqs.push(m.seq);
    pos += count(m);
  }
  // kept only when the kept head holds all of it (a pinned prompt): 4 attention sinks hold just its first tokens
  const pinned = policy.spec.name === 'sink' && policy.spec.pinSystem && kept > 0;
  const system = !input.systemPrompt ? null : pinned || kept >= systemTokens ? 'kept' : evicted > 0 && windowStart >= systemTokens ? 'forgotten' : 'seen';
  return { heldFromSeq, heldTokensOfFirst, evictedTokens: evicted, keptTokens: kept, keptSeqs, system };
}

const PAGE = 200;

/** The view of a stored session: its transcript read newest first, page by page, as far as the window reaches. */
export function sessionCacheView(
  store: Store,
  session: Session,
  policy: CachePolicy,
  counter: StreamTokenCounter,
  streaming?: ViewInput['streaming'],
): CacheView {
  // failed answers were never fed to the cache
  const fed = (m: Message) => m.state !== 'error';
  function* newestFirst(): Generator<Message> {
    for (let before = Number.MAX_SAFE_INTEGER; ; ) {
      const page = store.listMessagesBefore(session.id, before, PAGE);
      for (let i = page.length - 1; i >= 0; i--) if (fed(page[i])) yield page[i];
      if (page.length < PAGE) return;
      before = page[0].seq;
    }
  }
  return cacheView({
    policy,
    newestFirst: newestFirst(),
    first: store.listMessages(session.id, { limit: 8 }).filter(fed),
    systemPrompt: session.systemPrompt,
    counter,
    streaming,
  });
}
