import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Model } from '../engine/model.js';
import { loadNow, machineInfo } from './machine-info.js';
import type { NamedPolicy } from './policy-list.js';
import { pplPlotSvg } from './ppl-plot.js';
import { reportResult, type PplReport } from './ppl-report.js';
import { ProgressMeter } from './progress.js';
import { streamPerplexity } from './stream-ppl.js';
import { readTextStream } from './text-stream.js';

export interface PplEvalOptions {
  textFile: string;
  policies: NamedPolicy[];
  tokens: number;
  window: number;
  sink: number;
  chunk: number;
  interval?: number;
  evictChunk: number;
  command: string;
  signal?: AbortSignal;
  /** where progress lines go (null: nowhere) */
  progress?: NodeJS.WriteStream | null;
  /** called with the report so far after each policy (and on interruption) */
  onReport?: (report: PplReport) => void;
}

/** Runs every policy over the same first `tokens + 1` tokens of the text and collects the report. */
export async function runPplEval(model: Model, o: PplEvalOptions): Promise<PplReport> {
  const stream = readTextStream(o.textFile, model.tokenizer, o.tokens + 1, model.streamPrefix);
  const interval = Math.max(1, Math.floor(o.interval ?? Math.max(1, Math.ceil(o.tokens / 200))));
  const report: PplReport = {
    kind: 'perpetua.eval.ppl',
    version: 1,
    command: o.command,
    model: {
      dir: model.dir,
      name: model.name,
      fingerprint: model.fingerprint,
      provider: model.provider,
      contextLength: model.config.maxPositions,
    },
    text: { file: resolve(o.textFile), sha256: stream.sha256, chars: stream.chars },
    settings: { tokens: o.tokens, window: o.window, sink: o.sink, chunk: o.chunk, interval, evictChunk: o.evictChunk },
    machine: machineInfo(),
    startedAt: new Date().toISOString(),
    finishedAt: '',
    loadAverageAtEnd: [],
    interrupted: false,
    results: [],
  };
  for (const [i, p] of o.policies.entries()) {
    if (o.signal?.aborted) break;
    const meter = new ProgressMeter(`[${i + 1}/${o.policies.length}] ${p.label}`, o.tokens, o.progress === undefined ? process.stderr : o.progress);
    const result = await streamPerplexity(model, p.spec, stream.tokens, {
      chunk: o.chunk,
      interval,
      signal: o.signal,
      label: p.label,
      onProgress: (done) => meter.update(done),
    });
    meter.finish();
    report.results.push(reportResult(result));
    report.finishedAt = new Date().toISOString();
    report.loadAverageAtEnd = loadNow();
    report.interrupted = Boolean(o.signal?.aborted);
    o.onReport?.(report);
  }
  report.finishedAt = new Date().toISOString();
  report.loadAverageAtEnd = loadNow();
  report.interrupted = Boolean(o.signal?.aborted);
  return report;
}

/** Writes the JSON report and/or its plot, creating folders as needed. */
export function writePplOutputs(report: PplReport, jsonFile?: string, plotFile?: string): void {
  if (jsonFile) {
    mkdirSync(dirname(resolve(jsonFile)), { recursive: true });
    writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
  }
  if (plotFile) {
    mkdirSync(dirname(resolve(plotFile)), { recursive: true });
    writeFileSync(plotFile, pplPlotSvg(report));
  }
}
