import type { ModelInfo, PolicyConfig } from './api.js';

/**
 * The policy a new chat on `model` starts with: the app's default (settings), kept inside the model's context — its
 * sinks as chosen where they fit, its window cut to what is left — else the one that fits the model.
 */
export function newChatPolicy(preferred: PolicyConfig | null, model: Pick<ModelInfo, 'maxPositions' | 'defaultPolicy'> | undefined): PolicyConfig | null {
  const fit = model?.defaultPolicy ?? null;
  if (!preferred) return fit;
  const context = model?.maxPositions;
  if (context === undefined) return preferred;
  const sink = preferred.name === 'sink' ? Math.min(preferred.sink, Math.max(0, context - 1)) : preferred.sink;
  const room = context - (preferred.name === 'sink' ? sink : 0);
  return { ...preferred, sink, window: Math.max(1, Math.min(preferred.window, room)) };
}
