import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

describe('perpetua (the command dispatcher)', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
    return { out, err };
  }

  it('prints every command in the usage text', async () => {
    const { out } = capture();
    expect(await main(['--help'])).toBe(0);
    for (const name of ['generate', 'chat', 'eval', 'bench latency', 'sessions', 'ab', 'models', 'export', 'inspect']) {
      expect(out.join('\n')).toContain(`perpetua ${name}`);
    }
  });

  it('refuses names that are not commands, including those every object has', async () => {
    for (const name of ['nope', 'toString', 'constructor', '__proto__']) {
      const { err } = capture();
      expect(await main([name])).toBe(1);
      expect(err[0]).toMatch(new RegExp(`^perpetua: unknown command "${name}"\\.\\nUsage:`));
      vi.restoreAllMocks();
    }
  });

  it("prints one command's help", async () => {
    const { out } = capture();
    expect(await main(['export', '--help'])).toBe(0);
    expect(out[0]).toMatch(/^perpetua export /);
  });
});
