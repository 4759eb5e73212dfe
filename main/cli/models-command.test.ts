import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { layoutModelDir } from '../../native-models/layout-fixtures.js';
import { sha256, startFakeHub } from '../models/fixtures/fake-hub.js';
import { addTinyRepo, TINY_REPO } from '../models/fixtures/tiny-repo.js';

const run = promisify(execFile);
const cli = (args: string[], env?: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', ...args], { env: { ...process.env, ...env } });

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

  it('lists every export variant with dtype, KV dtype and size, and loads the one --variant names', async () => {
    const dir = layoutModelDir([
      { file: 'onnx/model_q4f16.onnx', float16: true, externalData: 'model_q4f16.onnx_data' },
      { file: 'onnx/model_int8.onnx' },
    ]);
    const { stdout } = await cli(['models', 'check', dir, '--variant', 'q4f16']);
    expect(stdout).toMatch(/KV cache 0\.3 KiB per token \(float16\)/);
    expect(stdout).toMatch(/^ {2}fp32 +onnx\/model\.onnx: fp32, KV float32, \d+\.\d MiB$/m);
    expect(stdout).toMatch(/^ {2}int8 +onnx\/model_int8\.onnx: int8, KV float32, \d+\.\d MiB$/m);
    expect(stdout).toMatch(/^ {2}q4f16 +onnx\/model_q4f16\.onnx \+ 1 data file\(s\): q4f16, KV float16, \d+\.\d MiB {2}\(loaded\)$/m);
  });

  it('refuses to convert a folder without a checkpoint, in one sentence', async () => {
    const err = await cli(['models', 'convert', testModelDir(), join(mkdtempSync(join(tmpdir(), 'perpetua-conv-')), 'out')]).then(
      () => null,
      (e) => e as { code: number; stderr: string },
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr.trim()).toMatch(/^perpetua: .* has no \.safetensors weights\.$/);
  });

  it.runIf(fixtureAvailable(FIXTURES.tinystories))('converts to float32 unless told otherwise (also for a GPU), and to 4-bit blocks of --block-size', async () => {
    const out = mkdtempSync(join(tmpdir(), 'perpetua-conv-'));
    const plain = await cli(['models', 'convert', join(FIXTURES.tinystories, 'hf'), join(out, 'cpu')]);
    expect(plain.stdout).toMatch(/appending graph, fp32 weights\); it loads and runs\.$/m);
    const gpu = await cli(['models', 'convert', join(FIXTURES.tinystories, 'hf'), join(out, 'gpu'), '--ep', 'webgpu']);
    expect(gpu.stdout).toMatch(/reference graph, fp32 weights\)/);
    const q = await cli(['models', 'convert', join(FIXTURES.tinystories, 'hf'), join(out, 'q'), '--dtype', 'q4_0', '--block-size', '64']);
    expect(q.stdout).toMatch(/q4_0 weights in blocks of 64\); it loads and runs\.$/m);
    const graph = readFileSync(join(out, 'q', 'onnx', 'model.onnx'));
    expect(graph.includes(Buffer.from('block_size'))).toBe(true);
    const bad = await cli(['models', 'convert', join(FIXTURES.tinystories, 'hf'), join(out, 'bad'), '--dtype', 'q4', '--block-size', '48']).then(
      () => null,
      (e) => e as { code: number; stderr: string },
    );
    expect(bad?.stderr).toMatch(/--block-size must be one of 32, 64, 128/);
  });

  it('downloads from the Hub with a progress bar, survives a SIGKILL mid-file and resumes to a folder that checks', async () => {
    const hub = await startFakeHub();
    try {
      const tiny = addTinyRepo(hub);
      const dir = mkdtempSync(join(tmpdir(), 'perpetua-cli-dl-'));
      const env = { HF_ENDPOINT: hub.url, HF_TOKEN: '' };
      const part = join(dir, '.downloads', 'Tiny-ONNX-q4', 'onnx', 'model_q4.onnx.part');
      hub.throttle = 100_000;
      const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', 'models', 'download', TINY_REPO, '--dir', dir], {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.once('exit', r));
      while (!(existsSync(part) && statSync(part).size > 50_000)) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGKILL');
      await exited;
      const killedAt = statSync(part).size;
      expect(killedAt).toBeLessThan(statSync(join(testModelDir(), 'onnx', 'model.onnx')).size);
      hub.throttle = 0;
      const from = hub.requests.length;
      const { stdout, stderr } = await cli(['models', 'download', TINY_REPO, '--dir', dir], env);
      expect(stdout).toMatch(new RegExp(`^${TINY_REPO} @ ${tiny.commit.slice(0, 12)}, variant q4: 4 files, 0\\.6 MiB$`, 'm'));
      expect(stderr).toMatch(/\[#{24}\] 100% {2}0\.6\/0\.6 MiB {2}(\d+\.\d|--) MiB\/s {2}ETA \S+ {2}onnx\/model_q4\.onnx \(4\/4\)/);
      const range = hub.requests.slice(from).find((r) => r.server === 'storage')?.range;
      expect(Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1])).toBeGreaterThanOrEqual(killedAt - 64 * 1024); // resumed, not restarted
      const model = join(dir, 'Tiny-ONNX-q4');
      expect(sha256(readFileSync(join(model, 'onnx', 'model_q4.onnx')))).toBe(tiny.sha256('onnx/model_q4.onnx'));
      const { stdout: check } = await cli(['models', 'check', model]);
      expect(check).toMatch(/^Tiny-ONNX-q4: llama, 2 layers/m);
    } finally {
      await hub.close();
    }
  });
});
