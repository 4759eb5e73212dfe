import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testModelDir } from '../../native-models/test-models.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'main/cli/run.ts'];

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI, ...args], { maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const POLICIES = ['dense', 'window', 'recompute', 'sink'];

const specSchema = z.object({
  name: z.enum(['dense', 'window', 'recompute', 'sink']),
  sink: z.number().int(),
  window: z.number().int(),
  pinSystem: z.boolean(),
  evictChunk: z.number().int(),
});
const pplReportSchema = z.object({
  kind: z.literal('perpetua.eval.ppl'),
  version: z.literal(1),
  command: z.string(),
  model: z.object({ name: z.string(), fingerprint: z.string(), provider: z.string(), contextLength: z.number() }),
  text: z.object({ file: z.string(), sha256: z.string().length(64), chars: z.number() }),
  settings: z.object({
    tokens: z.number(),
    window: z.number(),
    sink: z.number(),
    chunk: z.number(),
    interval: z.number(),
    evictChunk: z.number(),
  }),
  machine: z.object({ cpu: z.string(), cores: z.number(), onnxruntime: z.string() }),
  interrupted: z.boolean(),
  results: z.array(
    z.object({
      policy: z.string(),
      spec: specSchema,
      ppl: z.number().positive(),
      logPpl: z.number(),
      tokens: z.number().int(),
      exact: z.boolean(),
      complete: z.boolean(),
      curve: z.array(z.object({ position: z.number().int(), logPpl: z.number(), blockLogPpl: z.number() })).min(2),
    }),
  ),
});

const latencyReportSchema = z.object({
  kind: z.literal('perpetua.bench.latency'),
  settings: z.object({ tokens: z.number(), window: z.number(), points: z.number(), samples: z.number() }),
  results: z.array(
    z.object({
      policy: z.string(),
      points: z.array(
        z.object({ position: z.number(), samples: z.number(), p50Ms: z.number().positive(), p90Ms: z.number().positive() }),
      ),
      steady: z.object({ p50Ms: z.number().positive(), p90Ms: z.number().positive() }).nullable(),
      peakRssBytes: z.number().positive(),
      isolated: z.boolean(),
      complete: z.boolean(),
    }),
  ),
  speedup: z.object({ p50: z.number().positive(), p90: z.number().positive() }).nullable(),
});

describe('perpetua eval ppl / bench latency (CLI)', () => {
  let dir: string;
  let textFile: string;
  let model: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'perpetua-eval-'));
    textFile = join(dir, 'story.txt');
    const para =
      'Once upon a time there was a little girl who lived in a village near the forest. She liked to walk to the river ' +
      'and watch the water. One day she saw a small bird on a branch. The bird was sad because it could not find its way home.\n';
    writeFileSync(textFile, para.repeat(12));
    model = testModelDir();
  });

  it('writes a JSON report with every policy and a plot with one series per policy per panel', async () => {
    const json = join(dir, 'ppl.json');
    const svg = join(dir, 'ppl.svg');
    const r = await cli([
      'eval', 'ppl', '--model', model, '--text', textFile, '--policies', POLICIES.join(','),
      '--window', '24', '--sink', '4', '--tokens', '120', '--interval', '10', '--json', json, '--plot', svg,
    ]);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(r.code).toBe(0);
    const report = pplReportSchema.parse(JSON.parse(readFileSync(json, 'utf8')));
    expect(report.results.map((x) => x.policy)).toEqual(POLICIES);
    expect(report.interrupted).toBe(false);
    for (const res of report.results) {
      expect(res.tokens).toBe(120);
      expect(res.complete).toBe(true);
      expect(res.exact).toBe(true);
      expect(res.curve.map((p) => p.position)).toEqual(Array.from({ length: 12 }, (_, i) => (i + 1) * 10));
      expect(Math.log(res.ppl)).toBeCloseTo(res.curve[res.curve.length - 1].logPpl, 8);
    }
    const bySpec = Object.fromEntries(report.results.map((x) => [x.policy, x.spec]));
    expect(bySpec.sink).toMatchObject({ sink: 4, window: 20 }); // S sinks + L − S recent = cache size L
    expect(bySpec.window.window).toBe(24);
    expect(bySpec.recompute.window).toBe(24);
    // Before the first eviction every policy sees the same tokens, so the first points agree.
    const first = report.results.map((x) => x.curve[1].logPpl);
    for (const v of first) expect(v).toBeCloseTo(first[0], 3);
    expect(r.stdout).toMatch(/\| dense \| all \|/);

    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    // series lines: one per policy in each of the two panels, drawn with the policy's colour
    const lines = [...text.matchAll(/<path d="M[^"]*"[^>]*stroke="(#[0-9a-f]{6})" stroke-width="1.8"/g)];
    expect(lines.length).toBe(2 * POLICIES.length);
    const colours = lines.map((m) => m[1]);
    for (const c of ['#d62728', '#ff7f0e', '#2ca02c', '#1f77b4']) expect(colours.filter((x) => x === c).length).toBe(2);
    // the top-panel line has one vertex per curve point
    expect(lines[0][0].match(/[ML][\d.-]+ [\d.-]+/g)!.length).toBe(12);
    for (const p of POLICIES) expect(text).toContain(`${p}: PPL`);
  });

  it('exits non-zero with one clear sentence when the text file is missing', async () => {
    const missing = join(dir, 'no-such-book.txt');
    const json = join(dir, 'never.json');
    const r = await cli(['eval', 'ppl', '--model', model, '--text', missing, '--json', json]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([`perpetua: The text file ${missing} does not exist.`]);
    expect(existsSync(json)).toBe(false);
  });

  it('bench latency: p50/p90 per point for each policy in its own process, and the sink-over-recompute speedup', async () => {
    const json = join(dir, 'lat.json');
    const svg = join(dir, 'lat.svg');
    const r = await cli([
      'bench', 'latency', '--model', model, '--policies', 'dense,recompute,sink', '--window', '16', '--tokens', '64',
      '--points', '4', '--samples', '4', '--json', json, '--plot', svg,
    ]);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(r.code).toBe(0);
    const report = latencyReportSchema.parse(JSON.parse(readFileSync(json, 'utf8')));
    expect(report.results.map((x) => x.policy)).toEqual(['dense', 'recompute', 'sink']);
    for (const res of report.results) {
      expect(res.points.map((p) => p.position)).toEqual([16, 32, 48, 64]);
      expect(res.points.every((p) => p.samples === 4 && p.p90Ms >= p.p50Ms)).toBe(true);
      expect(res.isolated).toBe(true);
      expect(res.complete).toBe(true);
    }
    expect(report.speedup).not.toBeNull();
    expect(r.stdout).toMatch(/sink over recompute: [\d.]+× faster/);
    expect(readFileSync(svg, 'utf8').startsWith('<svg')).toBe(true);
  });

  it('bench refuses an unknown shape with one sentence', async () => {
    const r = await cli(['bench', 'latency', '--shape', 'gpt-5']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('perpetua: --shape must be one of smollm2-135m, qwen2.5-0.5b, not "gpt-5".');
  });
});
