/** The policy as text: the "sink:4:1020" form of the CLI and A/B records, keys, and what people read. */
import { PerpetuaError } from '../shared/errors.js';
import { boundsProblem, DEFAULT_POLICY, isPolicyName, POLICY_NAMES, type PolicyConfig, type PolicySpec } from './policy.js';

/** Parses "name[:sink[:window]]" ("sink:4:1020", "window::1024"); missing numbers come from `base`, then the defaults. */
export function parsePolicy(text: string, base: Partial<PolicySpec> = {}): PolicySpec {
  const [name, sink, window] = text.trim().split(':');
  if (!isPolicyName(name)) {
    throw new PerpetuaError(`Unknown cache policy "${name}": use one of ${POLICY_NAMES.join(', ')}.`, { code: 'invalid_input' });
  }
  const merged: PolicySpec = { ...DEFAULT_POLICY, ...base, name };
  const num = (v: string | undefined, what: 'sink' | 'window'): number => {
    if (v === undefined || v.trim() === '') return merged[what];
    const n = Number(v);
    const problem = boundsProblem(what, n);
    if (problem) throw new PerpetuaError(`In "${text}": ${problem}`, { code: 'invalid_input' });
    return n;
  };
  return { ...merged, sink: num(sink, 'sink'), window: num(window, 'window') };
}

/** "sink:4:1020": what parsePolicy reads back (A/B records, `perpetua ab`). */
export function formatPolicy(p: PolicyConfig): string {
  return `${p.name}:${p.sink}:${p.window}`;
}

/** One key per distinct policy: parameters a policy ignores do not split it (a dense cache has no window). */
export function policyKey(p: PolicyConfig): string {
  if (p.name === 'dense') return 'dense';
  const sink = p.name === 'sink' ? p.sink : 0;
  return `${p.name}:${sink}:${p.window}${p.pinSystem ? ':pin' : ''}`;
}

/** A phrase for sentences: "sink (4 sink + 1020 recent tokens, system prompt pinned)". */
export function describePolicy(p: PolicyConfig): string {
  switch (p.name) {
    case 'dense':
      return 'dense (every token kept)';
    case 'window':
      return `window (last ${p.window} tokens)`;
    case 'recompute':
      return `recompute (last ${p.window} tokens re-read for every new token)`;
    case 'sink':
      return `sink (${p.sink} sink + ${p.window} recent tokens${p.pinSystem ? ', system prompt pinned' : ''})`;
  }
}

/** A short label for tables, legends and the status bar: "sink 4 + 1,020 · pinned", "window 24", "dense". */
export function policyLabel(p: PolicyConfig): string {
  const n = (x: number) => x.toLocaleString('en-US');
  // only the sink policy keeps pinned tokens: window and recompute ignore the option
  const pinned = p.pinSystem && p.name === 'sink' ? ' · pinned' : '';
  switch (p.name) {
    case 'dense':
      return 'dense';
    case 'sink':
      return `sink ${n(p.sink)} + ${n(p.window)}${pinned}`;
    default:
      return `${p.name} ${n(p.window)}${pinned}`;
  }
}
