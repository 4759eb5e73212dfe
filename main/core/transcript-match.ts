/**
 * Which part of a request's conversation a stored chat already holds. OpenAI-style clients resend the whole history on
 * every request; the chat whose transcript is the longest prefix of it continues, so only what is new is read.
 * Pure: the caller reads the transcripts and acts on the plan.
 */
import type { CompletionMessage } from '../api/completion-schemas.js';
import type { Message } from '../store/types.js';
import { PerpetuaError } from '../shared/errors.js';
import { isInContext } from './transcript-read.js';

/** A request's conversation: the system prompt, the turns before the new one, and the new user turn. */
export interface Conversation {
  system: string;
  history: CompletionMessage[];
  last: string;
}

/** What to do with a chat for a request. */
export type MatchPlan =
  /** the chat holds the history: append `extras` (when any), then the new turn */
  | { kind: 'continued' | 'appended'; reused: number; extras: CompletionMessage[] }
  /** they part after `forkAfter` (null: at the start): a branch with `extras`, then the new turn */
  | { kind: 'branched'; reused: number; forkAfter: number | null; extras: CompletionMessage[] }
  /** the chat holds the history and the new turn, and answered it: a new version of `answerId` */
  | { kind: 'regenerated'; reused: number; answerId: number };

/** Splits a request into system prompt, history and the new user turn; refuses what a chat cannot hold. */
export function splitConversation(messages: CompletionMessage[]): Conversation {
  let start = 0;
  const system: string[] = [];
  while (start < messages.length && messages[start].role === 'system') system.push(messages[start++].content);
  const rest = messages.slice(start);
  const last = rest[rest.length - 1];
  if (!last || last.role !== 'user') throw new MatchError('The last message must be the user\'s (role "user"): it is the turn to answer.');
  if (rest.some((m) => m.role === 'system')) throw new MatchError('System messages may only come first, before the conversation.');
  return { system: system.join('\n\n'), history: rest.slice(0, -1), last: last.content };
}

/** The transcript as the model holds it: turns that failed, or were stopped while read, are not part of it. */
export function heldTurns(transcript: Message[]): Message[] {
  return transcript.filter((m) => isInContext(m) && m.state !== 'streaming');
}

/** How much of `c` the chat whose transcript (active branch) is `transcript` holds, and what to do. */
export function matchTranscript(transcript: Message[], c: Conversation): MatchPlan {
  const held = heldTurns(transcript);
  let k = 0;
  while (k < held.length && k < c.history.length && same(held[k], c.history[k])) k++;
  if (k === held.length) return { kind: k === c.history.length ? 'continued' : 'appended', reused: k, extras: c.history.slice(k) };
  // the request ends with a turn the chat has answered: the client asks again (regenerate)
  if (k === c.history.length && held[k].role === 'user' && held[k].text === c.last && held[k + 1]?.role === 'assistant') {
    return { kind: 'regenerated', reused: k + 1, answerId: held[k + 1].id };
  }
  return { kind: 'branched', reused: k, forkAfter: k > 0 ? held[k - 1].id : null, extras: c.history.slice(k) };
}

function same(m: Message, r: CompletionMessage): boolean {
  return m.role === r.role && m.text === r.content;
}

/** A request the matcher cannot take (roles out of order). */
class MatchError extends PerpetuaError {
  constructor(message: string) {
    super(message, { code: 'invalid_input' });
  }
}
