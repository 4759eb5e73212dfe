import type { ModelInfo, PolicyConfig } from './api.js';
import { fitToContext } from '../../../main/policy/policy.js';

/**
 * The policy a new chat on `model` starts with: the app's default (settings), kept inside the model's context — its
 * sinks as chosen where they fit, its window cut to what is left — else the one that fits the model.
 */
export function newChatPolicy(preferred: PolicyConfig | null, model: Pick<ModelInfo, 'maxPositions' | 'defaultPolicy'> | undefined): PolicyConfig | null {
  const fit = model?.defaultPolicy ?? null;
  if (!preferred) return fit;
  return fitToContext(preferred, model?.maxPositions);
}
