import { DEFAULT_POLICY, POLICY_NAMES, type PolicySpec } from '../policy/policy.js';
import { parsePolicy } from '../policy/policy-text.js';

export interface NamedPolicy {
  label: string;
  spec: PolicySpec;
}

export interface PolicyListOptions {
  /** cache size L: the tokens every bounded policy attends to (sink: S sinks + L − S recent tokens) */
  window: number;
  sink: number;
  evictChunk?: number;
}

/**
 * Reads "dense,window,recompute,sink" (each bare name gets cache size L: window and recompute keep L tokens, sink
 * keeps S sinks + L − S recent ones, as the paper's 4+1020 = 1024) or explicit "sink:4:252" entries.
 */
export function policyList(text: string, o: PolicyListOptions): NamedPolicy[] {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!entries.length) throw new RangeError(`No policies given: use some of ${POLICY_NAMES.join(', ')}.`);
  const base = { evictChunk: o.evictChunk ?? DEFAULT_POLICY.evictChunk, pinSystem: false };
  const out: NamedPolicy[] = entries.map((entry) => {
    if (entry.includes(':')) return { label: entry, spec: parsePolicy(entry, base) };
    const spec = parsePolicy(entry, base);
    if (spec.name === 'sink') {
      if (o.sink >= o.window) throw new RangeError(`The sink count (${o.sink}) must be smaller than the cache size ${o.window}.`);
      return { label: entry, spec: { ...spec, sink: o.sink, window: o.window - o.sink } };
    }
    return { label: entry, spec: { ...spec, sink: 0, window: o.window } };
  });
  const seen = new Set<string>();
  for (const p of out) {
    if (seen.has(p.label)) throw new RangeError(`The policy "${p.label}" is listed twice.`);
    seen.add(p.label);
  }
  return out;
}
