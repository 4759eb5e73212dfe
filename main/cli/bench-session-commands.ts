import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { Model } from '../engine/model.js';
import { benchCrash } from '../eval/crash-bench.js';
import { benchResume } from '../eval/resume-bench.js';
import { benchPaste } from '../eval/paste-bench.js';
import { benchBranches } from '../eval/branch-bench.js';
import { readTextFile } from './read-text-file.js';
import { defaultModelDir, packageRoot } from './default-model.js';
import { number, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_SESSION_HELP = `perpetua bench resume [--model DIR] [--text FILE] [--windows 256,1024] [--repeats N]
  Time to the first new token after resuming a session from its KV snapshot in SQLite vs re-prefilling the same cache.
perpetua bench crash [--model DIR] [--runs N] [--max-wait S]
  SIGKILLs a streaming session N times at random moments (up to S seconds into the answer, default 3) and checks every
  database (integrity, finished turns, stored text a prefix of what was shown), how much shown text had not been
  committed yet, and how many tokens each reopen read again (an answer is checkpointed every 256 tokens).
perpetua bench branches [--model DIR] [--turns N] [--repeats N] [--text FILE]
  A chat of N turns (paragraphs of a book) whose last turn is edited: going between the two branches from each one's
  KV snapshot vs re-reading the branch (medians).
perpetua bench paste [--model DIR] [--mb N] [--text FILE]
  Pastes N MB (default 10) of a book into a stored chat as one message: time to read it, RSS over the loaded model,
  progress, and whether reopening the session reads the paste again.`;

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
  console.log('| window L | cache tokens | snapshot | resume from snapshot (ms) | chunked snapshot (64-token turns) | resume from chunks (ms) | re-prefill (ms) | speedup (full / chunked) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.window} | ${r.cacheTokens} | ${(r.snapshotBytes / 1024).toFixed(0)} KiB | ${r.snapshotMs.toFixed(2)} | ${(r.chunkedBytes / 1024).toFixed(0)} KiB | ${r.chunkedMs.toFixed(2)} | ${r.prefillMs.toFixed(2)} | ${r.speedup.toFixed(1)}× / ${(r.prefillMs / r.chunkedMs).toFixed(1)}× |`);
  }
  await model.dispose();
}

export async function benchCrashCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { model: { type: 'string' }, runs: { type: 'string', default: '100' }, 'max-wait': { type: 'string', default: '3' } });
  const runs = number(values.runs, 'runs', { integer: true, min: 1 });
  const maxWaitMs = 1000 * number(values['max-wait'], 'max-wait', { above: 0 });
  const entry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'perpetua.js');
  const cliEntry = existsSync(entry) ? entry : join(packageRoot(), 'bin', 'perpetua.js');
  const r = await benchCrash(cliEntry, resolve(values.model ?? defaultModelDir()), runs, (i) => {
    if (i % 10 === 0 || i === runs) process.stderr.write(`[${i}/${runs} kills]\n`);
  }, { maxWaitMs });
  console.log(`${r.runs} SIGKILLs during streaming: ${r.corrupt} unreadable or corrupt databases, ${r.lostFinishedTurn} damaged finished turns, ` +
    `${r.notPrefix} stored answers that were not a prefix of the shown text.`);
  console.log(`Shown but not yet committed at the kill: p50 ${Math.round(r.lostChars.p50)} chars (${r.lostSeconds.p50.toFixed(2)} s), ` +
    `p90 ${Math.round(r.lostChars.p90)} chars (${r.lostSeconds.p90.toFixed(2)} s), max ${r.lostChars.max} chars (${r.lostSeconds.max.toFixed(2)} s).`);
  console.log(`Reopens: ${r.resumed} of ${r.runs} resumed from a snapshot; tokens re-read per reopen p50 ${r.rereadTokens.p50}, ` +
    `p90 ${r.rereadTokens.p90}, max ${r.rereadTokens.max} (the killed answers held p50 ${r.answerTokens.p50}, p90 ${r.answerTokens.p90}, ` +
    `max ${r.answerTokens.max} tokens: what each reopen would read again without checkpoints).`);
}

export async function benchPasteCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { model: { type: 'string' }, mb: { type: 'string', default: '10' }, text: { type: 'string' } });
  const bytes = number(values.mb, 'mb', { above: 0, max: 10 }) * 2 ** 20;
  const file = values.text ?? join(packageRoot(), '..', 'shared', 'corpora', 'pg19-test-10321-dragons-blood.txt');
  const book = readTextFile(file, 'text');
  let text = book;
  while (text.length < bytes) text += `\n${book}`;
  text = text.slice(0, bytes);
  const model = await Model.load(values.model ?? defaultModelDir());
  let last = 0;
  const r = await benchPaste(model, text, (done, total) => {
    if (performance.now() - last < 10_000) return;
    last = performance.now();
    process.stderr.write(`[read ${done} of ~${total} tokens]\n`);
  });
  console.log(
    `paste of ${(r.chars / 2 ** 20).toFixed(1)} MB (${r.tokens} tokens) into ${model.name}: read in ${(r.readMs / 1000).toFixed(1)} s (${(r.readCpuMs / 1000).toFixed(1)} s CPU) ` +
      `(${Math.round(r.tokens / (r.readMs / 1000))} tokens/s), ${r.progressEvents} progress updates, RSS ${r.baselineRssMiB.toFixed(0)} MiB with the model, ` +
      `peak ${r.peakRssMiB.toFixed(0)} MiB (+${(r.peakRssMiB - r.baselineRssMiB).toFixed(0)} MiB); reopen ${r.reopenMs.toFixed(0)} ms: ${r.reopenNotice}`,
  );
  await model.dispose();
}

export async function benchBranchesCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { model: { type: 'string' }, turns: { type: 'string', default: '40' }, repeats: { type: 'string', default: '5' }, text: { type: 'string' } });
  const turns = number(values.turns, 'turns', { integer: true, min: 1, max: 10_000 });
  const file = values.text ?? join(packageRoot(), '..', 'shared', 'corpora', 'pg19-test-10146-reminiscences-of-pioneer-days-in-st-paul.txt');
  if (!existsSync(file)) throw new UsageError(`The text file ${file} does not exist; pass --text FILE.`);
  const book = readTextFile(file, 'text');
  const paragraphs = Array.from({ length: turns }, (_, i) => {
    const at = (i * 600) % Math.max(1, book.length - 600);
    return book.slice(at, at + 600);
  });
  const model = await Model.load(values.model ?? defaultModelDir());
  const r = await benchBranches(model, paragraphs, number(values.repeats, 'repeats', { integer: true, min: 1 }));
  console.log(
    `${model.name} (${model.provider}), a chat of ${r.turns} turns, its last turn edited; a branch of ${r.branchTokens} tokens: switching to it ` +
      `from its KV snapshot ${r.snapshotMs.toFixed(1)} ms, by re-reading it ${r.rereadMs.toFixed(1)} ms (median; ${(r.rereadMs / r.snapshotMs).toFixed(1)}× faster from the snapshot).`,
  );
  await model.dispose();
}
