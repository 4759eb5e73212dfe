// The GPU suite, part 2: the command line on WebGPU, each command in its own process (an abort in onnxruntime is a
// non-zero exit here, a failing test, not a dead runner).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuAdapter } from '../engine/gpu-adapter.js';
import { requireWebGpuAdapter } from './webgpu-adapter.js';

let adapter: GpuAdapter;
beforeAll(async () => {
  adapter = await requireWebGpuAdapter();
});

function perpetua(...args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', ...args], { encoding: 'utf8', timeout: 240_000 });
  expect(r.status, `perpetua ${args.join(' ')} exited ${r.status} (signal ${r.signal}):\n${r.stderr}`).toBe(0);
  return { stdout: r.stdout, stderr: r.stderr };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'perpetua-webgpu-cli-'));
const story = ['--policy', 'sink', '--sink', '4', '--window', '64', '--prompt', 'Once upon a time'];

describe('perpetua on webgpu', () => {
  it('generate writes the same tokens as on the CPU through evictions, and names the adapter', () => {
    const cpu = perpetua('generate', '--ep', 'cpu', '--max-tokens', '100', ...story);
    const gpu = perpetua('generate', '--ep', 'webgpu', '--max-tokens', '100', ...story);
    expect(gpu.stdout).toBe(cpu.stdout);
    expect(gpu.stderr).toMatch(/100 tokens, .*webgpu on .*sink cache \d+ tokens\]/);
    expect(gpu.stderr).toContain(adapter.description);
  });

  it('stores a session, resumes it from its device KV snapshot, and continues as on the CPU, also across providers', () => {
    const turns = (first: string, second: string) => {
      const db = join(tmp(), 'chats.db');
      const a = perpetua('generate', '--ep', first, '--db', db, '--session', 's', '--max-tokens', '40', ...story);
      const b = perpetua('generate', '--ep', second, '--db', db, '--session', 's', '--max-tokens', '40', '--prompt', ' And then');
      expect(b.stderr).toMatch(/Resumed "s" from its KV snapshot/);
      return a.stdout + b.stdout;
    };
    const cpu = turns('cpu', 'cpu');
    expect(turns('webgpu', 'webgpu')).toBe(cpu);
    expect(turns('webgpu', 'cpu')).toBe(cpu);
    expect(turns('cpu', 'webgpu')).toBe(cpu);
  });

  it('runs an A/B comparison of a webgpu session and stores it', () => {
    const dir = tmp();
    const db = join(dir, 'chats.db');
    perpetua('generate', '--ep', 'webgpu', '--db', db, '--session', 's', '--max-tokens', '20', ...story);
    perpetua('ab', '--ep', 'webgpu', '--db', db, '--session', 's', '--a', 'sink:4:40', '--b', 'window:0:44', '--prompt', 'The end', '--max-tokens', '12', '--json', join(dir, 'ab.json'));
    const ab = JSON.parse(readFileSync(join(dir, 'ab.json'), 'utf8'));
    expect(JSON.stringify(ab)).toMatch(/sink/);
    const exported = perpetua('export', '--db', db, '--out', join(dir, 'chats.jsonl'));
    expect(exported.stderr + exported.stdout).not.toMatch(/unexpected/i);
    expect(readFileSync(join(dir, 'chats.jsonl'), 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
  });

  it('models check states the adapter, the node placement and the bytes per step and per eviction, measured', () => {
    const { stdout } = perpetua('models', 'check', 'native-models/perpetua-gutenberg', '--ep', 'webgpu');
    expect(stdout).toContain(`runs on webgpu on ${adapter.software ? 'a software adapter' : adapter.vendor}`);
    const step = /decode step on webgpu \(measured, 16 tokens cached\): (\d+) of (\d+) nodes on webgpu.*; (\d+) B up, (\d+) B down/.exec(stdout);
    expect(step, stdout).not.toBeNull();
    expect(Number(step![3])).toBeLessThan(512); // ids, mask, positions: no KV
    expect(Number(step![4])).toBe(4096 * 4); // one row of logits
    expect(stdout).toMatch(/eviction on webgpu \(measured\): .*; \d+ B up, 0 B down/);
  });

  it("keeps Dawn's warnings out of the terminal and passes the exit code through (the installed bin)", () => {
    const ok = spawnSync(process.execPath, ['bin/perpetua.js', 'generate', '--ep', 'webgpu', '--max-tokens', '3', '--prompt', 'Once'], { encoding: 'utf8', timeout: 120_000 });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/\[3 tokens, .*webgpu on /);
    expect(ok.stderr).not.toMatch(/artificially reduced/);
    const bad = spawnSync(process.execPath, ['bin/perpetua.js', 'generate', '--ep', 'webgpu', '--model', join(tmp(), 'missing'), '--prompt', 'hi'], { encoding: 'utf8', timeout: 120_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/does not exist/);
  });

  it('auto never settles on a software adapter: it runs on the CPU and says why', () => {
    const { stderr } = perpetua('generate', '--ep', 'auto', '--max-tokens', '3', '--prompt', 'Once');
    if (adapter.software) {
      expect(stderr).toContain(`webgpu would run on a software adapter: ${adapter.description}, slower than the CPU`);
      expect(stderr).toMatch(/stop: length, cpu,/);
      expect(stderr).not.toMatch(/Warning: max/); // Dawn's warnings about lavapipe's limits stay out of the terminal
    } else {
      expect(stderr).toMatch(/stop: length, (webgpu|cuda)/);
    }
  });
});
