import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', ...args]);

describe('perpetua models', () => {
  it('checks a model folder and says what Perpetua sees', async () => {
    const { stdout } = await cli(['models', 'check', testModelDir()]);
    expect(stdout).toMatch(/^default: llama, 2 layers, 4 heads \(2 KV heads of 16\), vocab \d+$/m);
    expect(stdout).toMatch(/RoPE rotate_half, theta 10000, 16\/16 dims rotated/);
    expect(stdout).toMatch(/KV cache 0\.5 KiB per token .*chat template yes/);
    expect(stdout).toMatch(/^threads: \d+ threads? for decode, \d+ for prefill \(one session; default\); positions from position_ids$/m);
  });

  it('shows the thread counts it was given', async () => {
    const { stdout } = await cli(['models', 'check', testModelDir({ graph: { layout: 'fused' } }), '--threads', '1,2']);
    expect(stdout).toMatch(/^threads: 1 thread for decode, 2 for prefill \(a second session for prefill; option\); positions at the cache length/m);
  });

  it('refuses to convert a folder without a checkpoint, in one sentence', async () => {
    const err = await cli(['models', 'convert', testModelDir(), join(mkdtempSync(join(tmpdir(), 'perpetua-conv-')), 'out')]).then(
      () => null,
      (e) => e as { code: number; stderr: string },
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr.trim()).toMatch(/^perpetua: .* has no \.safetensors weights\.$/);
  });
});
