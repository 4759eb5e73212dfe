import { parseArgs, type ParseArgsConfig } from 'node:util';
import { boundsProblem, DEFAULT_POLICY, defaultPolicyFor, isPolicyName, POLICY_BOUNDS, POLICY_NAMES, type PolicySpec } from '../policy/policy.js';
import { EXECUTION_PROVIDERS, type ProviderRequest } from '../engine/execution-provider.js';
import type { SamplingOptions } from '../engine/sampler.js';
import { UsageError } from './usage-error.js';

/** Options shared by every command that runs a model. */
export const MODEL_OPTIONS = {
  model: { type: 'string' },
  ep: { type: 'string', default: 'cpu' },
  variant: { type: 'string' },
  policy: { type: 'string', default: DEFAULT_POLICY.name },
  sink: { type: 'string', default: String(DEFAULT_POLICY.sink) },
  /** default: what fits the model's context (defaultPolicyFor) */
  window: { type: 'string' },
  'evict-chunk': { type: 'string', default: String(DEFAULT_POLICY.evictChunk) },
  'pin-system': { type: 'boolean', default: false },
  chunk: { type: 'string', default: '256' },
  'max-tokens': { type: 'string', default: '256' },
  // Sampling flags have no default here: an absent flag takes the model's generation_config.json, else greedy.
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  system: { type: 'string' },
  db: { type: 'string' },
  session: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

export function number(value: string | undefined, name: string, opts: { integer?: boolean; min?: number } = {}): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${opts.integer ? 'a whole number' : 'a number'}, not "${value}".`);
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}.`);
  return n;
}

type Values = Record<string, string | boolean | string[] | undefined>;

/** The policy the flags ask for; without --window, the window that fits a model of `contextLength` tokens. */
export function policyFrom(v: Values, contextLength?: number): PolicySpec {
  const name = String(v.policy);
  if (!isPolicyName(name)) throw new UsageError(`--policy must be one of ${POLICY_NAMES.join(', ')}, not "${name}".`);
  const bounded = (flag: string, what: keyof typeof POLICY_BOUNDS): number => {
    const n = number(v[flag] as string, flag, { integer: true, min: POLICY_BOUNDS[what].min });
    const problem = boundsProblem(what, n);
    if (problem) throw new UsageError(`--${flag}: ${problem}`);
    return n;
  };
  const sink = bounded('sink', 'sink');
  return {
    name,
    sink,
    window: v.window === undefined ? defaultPolicyFor(contextLength, sink).window : bounded('window', 'window'),
    evictChunk: bounded('evict-chunk', 'evictChunk'),
    pinSystem: Boolean(v['pin-system']),
  };
}

export function providerFrom(v: Values): ProviderRequest {
  const ep = String(v.ep);
  if (ep !== 'auto' && !(EXECUTION_PROVIDERS as readonly string[]).includes(ep)) {
    throw new UsageError(`--ep must be auto or one of ${EXECUTION_PROVIDERS.join(', ')}, not "${ep}".`);
  }
  return ep as ProviderRequest;
}

/** The flags given, over the model's recommended sampling (`generationDefaults`), over greedy decoding. */
export function samplingFrom(v: Values, modelDefaults: SamplingOptions = {}): SamplingOptions {
  const flag = (name: string, fallback: number | undefined, opts: { integer?: boolean; min?: number }) =>
    v[name] === undefined ? fallback : number(v[name] as string, name, opts);
  return {
    temperature: flag('temperature', modelDefaults.temperature ?? 0, { min: 0 }),
    topK: flag('top-k', modelDefaults.topK ?? 0, { integer: true, min: 0 }),
    topP: flag('top-p', modelDefaults.topP ?? 1, { min: 0 }),
    minP: flag('min-p', modelDefaults.minP ?? 0, { min: 0 }),
    repetitionPenalty: flag('repetition-penalty', modelDefaults.repetitionPenalty ?? 1, { min: 0 }),
    seed: flag('seed', undefined, { integer: true, min: 0 }),
  };
}

/** A value from a fixed list, or a usage error naming the option and the choices. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not "${value}".`);
  return value as T;
}
