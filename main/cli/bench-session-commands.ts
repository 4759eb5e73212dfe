import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { Model } from '../engine/model.js';
import { benchCrash } from '../eval/crash-bench.js';
import { benchResume } from '../eval/resume-bench.js';
import { defaultModelDir, packageRoot } from './default-model.js';
import { number, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_SESSION_HELP = `perpetua bench resume [--model DIR] [--text FILE] [--windows 256,1024] [--repeats N]
  Time to the first new token after resuming a session from its KV snapshot in SQLite vs re-prefilling the same cache.
perpetua bench crash [--model DIR] [--runs N]
  SIGKILLs a streaming session N times at random moments and checks every database (integrity, finished turns,
  stored text a prefix of what was shown) and how much shown text had not been committed yet.`;

export async function benchResumeCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    model: { type: 'string' },
    text: { type: 'string' },
    windows: { type: 'string', default: '256,1024' },
    repeats: { type: 'string', default: '7' },
  });
  const text = values.text ?? join(packageRoot(), '..', 'shared', 'corpora', 'pg19-test-10146-reminiscences-of-pioneer-days-in-st-paul.txt');
  if (!existsSync(text)) throw new UsageError(`The text file ${text} does not exist; pass --text FILE.`);
  const windows = values.windows.split(',').map((w) => number(w, 'windows', { integer: true, min: 1 }));
  const model = await Model.load(values.model ?? defaultModelDir());
  const rows = await benchResume(model, resolve(text), windows, number(values.repeats, 'repeats', { integer: true, min: 1 }));
  console.log(`model ${model.name} (${model.provider}); sink policy with 4 sinks; medians of ${values.repeats} runs`);
  console.log('| window L | cache tokens | snapshot | resume from snapshot (ms) | re-prefill (ms) | speedup |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.window} | ${r.cacheTokens} | ${(r.snapshotBytes / 1024).toFixed(0)} KiB | ${r.snapshotMs.toFixed(2)} | ${r.prefillMs.toFixed(2)} | ${r.speedup.toFixed(1)}× |`);
  }
  await model.dispose();
}

export async function benchCrashCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { model: { type: 'string' }, runs: { type: 'string', default: '100' } });
  const runs = number(values.runs, 'runs', { integer: true, min: 1 });
  const entry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'perpetua.js');
  const cliEntry = existsSync(entry) ? entry : join(packageRoot(), 'bin', 'perpetua.js');
  const r = await benchCrash(cliEntry, resolve(values.model ?? defaultModelDir()), runs, (i) => {
    if (i % 10 === 0 || i === runs) process.stderr.write(`[${i}/${runs} kills]\n`);
  });
  console.log(`${r.runs} SIGKILLs during streaming: ${r.corrupt} unreadable or corrupt databases, ${r.lostFinishedTurn} damaged finished turns, ` +
    `${r.notPrefix} stored answers that were not a prefix of the shown text.`);
  console.log(`Shown but not yet committed at the kill: p50 ${Math.round(r.lostChars.p50)} chars (${r.lostSeconds.p50.toFixed(2)} s), ` +
    `p90 ${Math.round(r.lostChars.p90)} chars (${r.lostSeconds.p90.toFixed(2)} s), max ${r.lostChars.max} chars (${r.lostSeconds.max.toFixed(2)} s).`);
}
