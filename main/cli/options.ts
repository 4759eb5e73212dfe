import { isCommaDecimal } from '../shared/decimal-text.js';
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

/** `allowPositionals`: the command takes bare arguments (a file) besides its options. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

/** `above`: the value must be greater than it (an open bound), where `min` allows the bound itself. */
export interface NumberBounds {
  integer?: boolean;
  min?: number;
  above?: number;
  max?: number;
}

/** A numeric flag written as a plain decimal number ("0x10", "1e3" and " 5" are refused), within its bounds. */
export function number(value: string | undefined, name: string, opts: NumberBounds = {}): number {
  const plain = opts.integer ? /^[+-]?\d+$/ : /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
  const n = Number(value);
  if (value === undefined || !plain.test(value) || !Number.isFinite(n)) {
    // "0,7" from a comma-decimal locale is refused with what to type, never read as 7
    const hint = value !== undefined && !opts.integer && isCommaDecimal(value) ? ` (decimals take a point: ${value.trim().replace(',', '.')})` : '';
    throw new UsageError(`--${name} must be ${opts.integer ? 'a whole number' : 'a number'}, not "${value}"${hint}.`);
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, not ${value}.`);
  if (opts.above !== undefined && n <= opts.above) throw new UsageError(`--${name} must be greater than ${opts.above}, not ${value}.`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, not ${value}.`);
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

/** The flags that choose a cache policy; given on a stored session, they switch its policy. */
const POLICY_FLAGS = ['--policy', '--sink', '--window', '--evict-chunk', '--pin-system'];

export function policyFlagsGiven(args: string[]): boolean {
  return args.some((a) => POLICY_FLAGS.includes(a.split('=')[0]));
}

/** Whether `--name` was written (flags with a default cannot tell by their value). */
export function flagGiven(args: string[], name: string): boolean {
  return args.some((a) => a.split('=')[0] === `--${name}`);
}

export function providerFrom(v: Values): ProviderRequest {
  const ep = String(v.ep);
  if (ep !== 'auto' && !(EXECUTION_PROVIDERS as readonly string[]).includes(ep)) {
    throw new UsageError(`--ep must be auto or one of ${EXECUTION_PROVIDERS.join(', ')}, not "${ep}".`);
  }
  return ep as ProviderRequest;
}

/** The flags given, over the model's recommended sampling (`generationDefaults`, or a stored chat's), over greedy decoding. */
export function samplingFrom(v: Values, modelDefaults: SamplingOptions = {}): SamplingOptions {
  const flag = (name: string, fallback: number | undefined, opts: NumberBounds) =>
    v[name] === undefined ? fallback : number(v[name] as string, name, opts);
  return {
    temperature: flag('temperature', modelDefaults.temperature ?? 0, { min: 0, max: 100 }),
    topK: flag('top-k', modelDefaults.topK ?? 0, { integer: true, min: 0 }),
    // a probability mass: 1 keeps every token, 0 would keep none
    topP: flag('top-p', modelDefaults.topP ?? 1, { above: 0, max: 1 }),
    minP: flag('min-p', modelDefaults.minP ?? 0, { min: 0, max: 1 }),
    // divides (or multiplies) logits: 0 would divide by zero, 1 turns it off
    repetitionPenalty: flag('repetition-penalty', modelDefaults.repetitionPenalty ?? 1, { above: 0, max: 10 }),
    seed: flag('seed', modelDefaults.seed, { integer: true, min: 0 }),
  };
}

/** A value from a fixed list, or a usage error naming the option and the choices. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not "${value}".`);
  return value as T;
}
