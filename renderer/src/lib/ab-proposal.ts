import type { PolicyConfig } from './api.js';

/**
 * What an A/B comparison proposes for a chat: A is the chat as it runs (its own policy, pinning included), B the
 * other bounded policy with the same token budget (sink ↔ window), both inside the model's context. A fixed 4 + 1020
 * proposal on a 512-token model asked for positions the model was never trained on.
 */
export function abProposal(chat: PolicyConfig, contextLength?: number): { a: PolicyConfig; b: PolicyConfig } {
  const room = contextLength ?? Number.MAX_SAFE_INTEGER;
  const a = fit(chat, room);
  const budget = a.name === 'dense' ? Math.min(room, 1024) : a.name === 'sink' ? a.sink + a.window : a.window;
  const sink = Math.min(4, Math.max(0, budget - 1));
  const b: PolicyConfig =
    a.name === 'sink'
      ? { name: 'window', sink: 0, window: budget, pinSystem: false }
      : { name: 'sink', sink, window: Math.max(1, budget - sink), pinSystem: a.pinSystem };
  return { a, b };
}

/** The policy with its sinks and window inside `room` tokens (dense is bounded by the context itself). */
function fit(p: PolicyConfig, room: number): PolicyConfig {
  if (p.name === 'dense') return { ...p };
  const sink = p.name === 'sink' ? Math.min(p.sink, Math.max(0, room - 1)) : p.sink;
  const held = p.name === 'sink' ? sink : 0;
  return { ...p, sink, window: Math.max(1, Math.min(p.window, room - held)) };
}
