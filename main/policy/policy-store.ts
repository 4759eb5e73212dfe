/**
 * How the store and snapshots keep a policy: its name in one column and its numbers as a JSON record, read back
 * tolerantly (a record from an older version gets the defaults for what it lacks).
 */
import { DEFAULT_POLICY, isPolicyName, type PolicyName, type PolicySpec } from './policy.js';

export type PolicyParams = Record<string, number | boolean>;

export interface StoredPolicy {
  name: PolicyName;
  params: PolicyParams;
}

export function encodePolicy(s: PolicySpec): StoredPolicy {
  return { name: s.name, params: { sink: s.sink, window: s.window, pinSystem: s.pinSystem, evictChunk: s.evictChunk } };
}

export function decodePolicy(name: string, params: PolicyParams): PolicySpec {
  const num = (k: 'sink' | 'window' | 'evictChunk') => (typeof params[k] === 'number' ? (params[k] as number) : DEFAULT_POLICY[k]);
  return {
    name: isPolicyName(name) ? name : DEFAULT_POLICY.name,
    sink: num('sink'),
    window: num('window'),
    pinSystem: params.pinSystem === true,
    evictChunk: num('evictChunk'),
  };
}
