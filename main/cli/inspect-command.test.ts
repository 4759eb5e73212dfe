import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { main } from './main.js';

/** The CLI's entry point in this process: exit code and what it wrote. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = vi.spyOn(console, 'error').mockImplementation((s) => void (stderr += `${String(s)}\n`));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('perpetua inspect sinks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-inspect-'));
  const text = join(dir, 'story.txt');
  writeFileSync(text, 'Once upon a time there was a little bird. It sang every morning by the river, and the fish listened to it.');

  it('prints a layer × head heatmap of the attention to the first tokens and writes it as JSON', async () => {
    const json = join(dir, 'sinks.json');
    const { code, stdout } = await cli(['inspect', 'sinks', '--model', testModelDir(), '--text', text, '--first', '2', '--json', json]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^default: attention to the first 2 tokens, over \d+ tokens of /);
    expect(stdout).toMatch(/^ +h0 +h1 +h2 +h3$/m);
    expect(stdout.match(/^L\d +.*mean \d+%$/gm)).toHaveLength(2);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report).toMatchObject({ layers: 2, heads: 4, firstTokens: 2 });
    for (const v of report.share.flat()) expect(v).toBeGreaterThan(0), expect(v).toBeLessThanOrEqual(1);
  });

  it('says in one sentence why a fused-attention graph cannot be inspected', async () => {
    const r = await cli(['inspect', 'sinks', '--model', testModelDir({ graph: { layout: 'fused' } }), '--text', text]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^perpetua: This graph computes attention in a fused GroupQueryAttention operator, .*\.$/);
  });
});
