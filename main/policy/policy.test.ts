import { describe, expect, it } from 'vitest';
import { PerpetuaError } from '../shared/errors.js';
import { boundsProblem, DEFAULT_POLICY, POLICY_BOUNDS, toConfig, toSpec, type PolicyConfig } from './policy.js';
import { LenientPolicyConfigSchema, PolicyConfigSchema } from './policy-schema.js';
import { decodePolicy, encodePolicy } from './policy-store.js';
import { describePolicy, formatPolicy, parsePolicy, policyKey, policyLabel } from './policy-text.js';

const sink: PolicyConfig = { name: 'sink', sink: 4, window: 32, pinSystem: false };

describe('policy text', () => {
  it('parses policy strings and refuses bad ones', () => {
    expect(parsePolicy('sink:4:1020')).toMatchObject({ name: 'sink', sink: 4, window: 1020 });
    expect(parsePolicy('window:0:1024')).toMatchObject({ name: 'window', window: 1024 });
    expect(() => parsePolicy('lru:1:2')).toThrow(/Unknown cache policy/);
    expect(() => parsePolicy('sink:x:2')).toThrow(/whole number/);
  });

  it('refuses numbers out of bounds with the invalid_input code, and reads back what it formats', () => {
    const err = (() => {
      try {
        parsePolicy(`sink:4:${POLICY_BOUNDS.window.max + 1}`);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PerpetuaError);
    expect((err as PerpetuaError).code).toBe('invalid_input');
    expect(parsePolicy('window')).toEqual({ ...DEFAULT_POLICY, name: 'window' });
    expect(parsePolicy(formatPolicy(sink))).toEqual(toSpec(sink));
  });

  it('keys a policy by what it uses', () => {
    expect(policyKey({ name: 'dense', sink: 4, window: 9, pinSystem: true })).toBe('dense');
    expect(policyKey({ ...sink, pinSystem: true })).toBe('sink:4:32:pin');
    expect(policyKey({ name: 'window', sink: 7, window: 24, pinSystem: false })).toBe('window:0:24');
  });

  it('says what a policy keeps, long and short', () => {
    expect(describePolicy({ ...sink, pinSystem: true })).toBe('sink (4 sink + 32 recent tokens, system prompt pinned)');
    expect(describePolicy({ name: 'window', sink: 0, window: 24, pinSystem: false })).toBe('window (last 24 tokens)');
    expect(policyLabel({ name: 'sink', sink: 4, window: 1020, pinSystem: true })).toBe('sink 4 + 1,020 · pinned');
    expect(policyLabel({ name: 'window', sink: 0, window: 24, pinSystem: false })).toBe('window 24');
    expect(policyLabel({ name: 'dense', sink: 0, window: 24, pinSystem: false })).toBe('dense');
  });
});

describe('policy data', () => {
  it('survives the store encoding, and older records get the defaults', () => {
    const spec = toSpec({ ...sink, pinSystem: true }, 16);
    const { name, params } = encodePolicy(spec);
    expect(decodePolicy(name, JSON.parse(JSON.stringify(params)))).toEqual(spec);
    expect(decodePolicy('window', { window: 24 })).toEqual({ ...DEFAULT_POLICY, name: 'window', window: 24 });
    expect(toConfig(spec)).toEqual({ ...sink, pinSystem: true });
  });

  it('validates at boundaries with the same bounds', () => {
    expect(PolicyConfigSchema.safeParse(sink).success).toBe(true);
    expect(PolicyConfigSchema.safeParse({ ...sink, sink: POLICY_BOUNDS.sink.max + 1 }).success).toBe(false);
    expect(PolicyConfigSchema.safeParse({ ...sink, extra: 1 }).success).toBe(false);
    expect(LenientPolicyConfigSchema.parse({ ...sink, window: -3 })).toEqual({ ...sink, window: DEFAULT_POLICY.window });
    expect(boundsProblem('window', 0)).toMatch(/window size must be a whole number from 1/);
    expect(boundsProblem('sink', 4)).toBeNull();
  });
});
