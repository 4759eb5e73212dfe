import { join } from 'node:path';
import { benchSearch } from '../eval/search-bench.js';
import { packageRoot } from './default-model.js';
import { number, parse } from './options.js';

export const BENCH_SEARCH_HELP = `perpetua bench search [--messages N] [--repeats M] [--zh FILE] [--en FILE]
  Search over N (default 50000) stored messages cut from Chinese and English text: builds the trigram index as the
  schema migration does (timed), then runs 1–6-character queries in both scripts as the app does; median query time.`;

export async function benchSearchCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    messages: { type: 'string', default: '50000' },
    repeats: { type: 'string', default: '9' },
    zh: { type: 'string' },
    en: { type: 'string' },
  });
  const corpora = join(packageRoot(), '..', 'shared', 'corpora');
  const r = benchSearch({
    messages: number(values.messages, 'messages', { integer: true, min: 1 }),
    repeats: number(values.repeats, 'repeats', { integer: true, min: 1 }),
    zhText: values.zh ?? join(corpora, 'zh', 'hongloumeng-ch01-20.txt'),
    enText: values.en ?? join(corpora, 'pg19-test-10146-reminiscences-of-pioneer-days-in-st-paul.txt'),
    onProgress: (what, done, total) => {
      if (done === total || done % 10000 === 0) process.stderr.write(`[${what}: ${done}/${total}]\n`);
    },
  });
  console.log(`${r.messages} messages (${r.textMiB.toFixed(1)} MiB of text); trigram index built by the migration in ${(r.migrationMs / 1000).toFixed(2)} s`);
  console.log('| query | chars | hits | median (ms) |');
  console.log('|---|---:|---:|---:|');
  for (const q of r.queries) console.log(`| ${q.query} | ${q.chars} | ${q.hits} | ${q.medianMs.toFixed(1)} |`);
  console.log(`median query ${r.medianMs.toFixed(1)} ms, p90 ${r.p90Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms`);
}
