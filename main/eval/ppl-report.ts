import type { MachineInfo } from './machine-info.js';
import type { PolicyPplResult } from './stream-ppl.js';

/** What `perpetua eval ppl --json` writes. */
export interface PplReport {
  kind: 'perpetua.eval.ppl';
  version: 1;
  /** the command line that reproduces it */
  command: string;
  model: {
    dir: string;
    name: string;
    fingerprint: string;
    provider: string;
    /** max_position_embeddings: the context the model was trained for */
    contextLength: number;
  };
  text: { file: string; sha256: string; chars: number };
  settings: {
    /** tokens scored per policy (the first tokens + 1 of the text are fed) */
    tokens: number;
    /** cache size L */
    window: number;
    sink: number;
    chunk: number;
    interval: number;
    evictChunk: number;
  };
  machine: MachineInfo;
  startedAt: string;
  finishedAt: string;
  /** load averages when the run finished (with machine.loadAverage: was the CPU shared during the run?) */
  loadAverageAtEnd: number[];
  /** true when Ctrl-C stopped the run: the last result may be partial and later policies missing */
  interrupted: boolean;
  results: PolicyPplResult[];
}

/** Strips per-token arrays so the report stays small. */
export function reportResult(r: PolicyPplResult & { nll?: Float64Array }): PolicyPplResult {
  const { nll: _nll, ...rest } = r;
  return rest;
}

/** A Markdown table of the results. */
export function pplTable(report: PplReport): string {
  const rows = [
    '| policy | cache | PPL | log PPL | tokens | exact | tokens/s |',
    '|---|---|---:|---:|---:|---|---:|',
  ];
  for (const r of report.results) {
    const cache = r.spec.name === 'dense' ? 'all' : r.spec.name === 'sink' ? `${r.spec.sink}+${r.spec.window}` : String(r.spec.window);
    rows.push(
      `| ${r.policy} | ${cache} | ${fmt(r.ppl)} | ${r.logPpl.toFixed(3)} | ${r.tokens}${r.complete ? '' : ' (partial)'} | ${r.exact ? 'yes' : `chunk ${r.chunk}`} | ${r.tokensPerSecond.toFixed(1)} |`,
    );
  }
  return rows.join('\n');
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(1) : x.toFixed(2);
}
