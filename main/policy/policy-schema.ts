/** The policy as zod validates it at process boundaries (API params, stored A/B metrics). */
import { z } from 'zod';
import { DEFAULT_POLICY, POLICY_BOUNDS, POLICY_NAMES } from './policy.js';

export const PolicyNameSchema = z.enum(POLICY_NAMES);

const bounded = (k: keyof typeof POLICY_BOUNDS) => z.number().int().min(POLICY_BOUNDS[k].min).max(POLICY_BOUNDS[k].max);

/** A policy as the user chooses it; unknown keys are refused (it comes from the renderer). */
export const PolicyConfigSchema = z.strictObject({
  name: PolicyNameSchema,
  sink: bounded('sink'),
  window: bounded('window'),
  pinSystem: z.boolean(),
});

/** A policy as written by older versions or other tools: each bad field falls back to its default. */
export const LenientPolicyConfigSchema = z.object({
  name: PolicyNameSchema,
  sink: bounded('sink').catch(DEFAULT_POLICY.sink),
  window: bounded('window').catch(DEFAULT_POLICY.window),
  pinSystem: z.boolean().catch(false),
});
