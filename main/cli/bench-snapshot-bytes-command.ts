import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GRAPH_LAYOUTS } from '../../native-models/decoder-graph.js';
import { WEIGHT_DTYPES } from '../../native-models/graph/linear-layers.js';
import { isShapeName, SHAPE_NAMES, SHAPES, shapeModelDir } from '../../native-models/shapes.js';
import { Model } from '../engine/model.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { benchSnapshotBytes, countFsyncs, type SnapshotBytesRow, type SnapshotFormat } from '../eval/snapshot-bytes-bench.js';
import { defaultModelDir, packageRoot } from './default-model.js';
import { number, oneOf, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_SNAPSHOT_BYTES_HELP = `perpetua bench snapshot-bytes [--model DIR | --shape smollm2-135m [--dtype q4_0]] [--window L] [--sink S]
    [--turn-tokens 16,64] [--turns N] [--formats full,chunked,none] [--wal-checkpoint-mib M] [--json OUT]
  Bytes the process writes per turn (database + WAL, /proc/self/io) and fsyncs per turn (strace, where installed) with
  a full cache, saving the whole cache after every answer (full), only the turn's KV and a manifest (chunked), or
  nothing (none: what the transcript alone costs). A checkpoint after the turns copies what they left in the WAL into
  the database; its bytes and fsyncs are shared out over them.`;

/** `perpetua bench snapshot-bytes`: runs itself under strace (to count fsyncs per turn) where strace is installed. */
export async function benchSnapshotBytesCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    shape: { type: 'string' },
    layout: { type: 'string', default: 'appending' },
    dtype: { type: 'string', default: 'fp32' },
    window: { type: 'string' },
    sink: { type: 'string', default: '4' },
    'turn-tokens': { type: 'string', default: '16,64' },
    turns: { type: 'string', default: '16' },
    formats: { type: 'string', default: 'full,chunked,none' },
    'wal-checkpoint-mib': { type: 'string' },
    text: { type: 'string' },
    json: { type: 'string' },
    child: { type: 'string' },
  });
  if (v.model !== undefined && v.shape !== undefined) throw new UsageError('Give either --model or --shape, not both.');
  if (v.shape !== undefined && !isShapeName(v.shape)) throw new UsageError(`--shape must be one of ${SHAPE_NAMES.join(', ')}, not "${v.shape}".`);
  const strace = ['/usr/bin/strace', '/bin/strace'].find(existsSync);
  if (v.child === undefined && strace) {
    const out = mkdtempSync(join(tmpdir(), 'perpetua-fsyncs-'));
    try {
      const rowsFile = join(out, 'rows.json');
      const traceFile = join(out, 'trace.txt');
      const run = spawnSync(strace, ['-f', '--seccomp-bpf', '-ttt', '-e', 'trace=fsync,fdatasync', '-o', traceFile, process.execPath, ...process.execArgv, process.argv[1], 'bench', 'snapshot-bytes', ...args, '--child', rowsFile], { stdio: 'inherit' });
      if (run.status === 0 && existsSync(rowsFile)) {
        const rows = JSON.parse(readFileSync(rowsFile, 'utf8')) as SnapshotBytesRow[];
        countFsyncs(readFileSync(traceFile, 'utf8'), rows);
        return report(rows, v.json);
      }
      process.stderr.write('Counting fsyncs with strace failed; measuring without them.\n');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  const shape = v.shape !== undefined && isShapeName(v.shape) ? SHAPES[v.shape] : null;
  const graph = { layout: oneOf(v.layout, GRAPH_LAYOUTS, 'layout'), dtype: oneOf(v.dtype, WEIGHT_DTYPES, 'dtype') };
  const dir = shape ? shapeModelDir(shape.name, { onStatus: (l) => process.stderr.write(`${l}\n`), graph }) : resolve(v.model ?? defaultModelDir());
  const model = await Model.load(dir);
  const sink = number(v.sink, 'sink', { integer: true, min: 0 });
  const window = v.window !== undefined ? number(v.window, 'window', { integer: true, min: 1 }) : Math.min(model.config.maxPositions, 1024) - sink;
  const text = readFileSync(v.text ?? join(packageRoot(), '..', 'shared', 'corpora', 'pg19-test-10146-reminiscences-of-pioneer-days-in-st-paul.txt'), 'utf8');
  const formats = v.formats.split(',').map((f) => oneOf(f, ['full', 'chunked', 'none'] as const, 'formats')) as SnapshotFormat[];
  const rows = await benchSnapshotBytes(model, {
    text,
    policy: { ...DEFAULT_POLICY, name: 'sink', sink, window },
    turnTokens: v['turn-tokens'].split(',').map((t) => number(t, 'turn-tokens', { integer: true, min: 2 })),
    turns: number(v.turns, 'turns', { integer: true, min: 1 }),
    formats,
    walCheckpointBytes: v['wal-checkpoint-mib'] === undefined ? undefined : number(v['wal-checkpoint-mib'], 'wal-checkpoint-mib', { min: 0.001 }) * 2 ** 20,
  });
  process.stderr.write(`model ${shape ? `${shape.source} shape (random weights)` : model.name}, ${model.kvDtype} KV, sink cache ${sink} + ${window}\n`);
  await model.dispose();
  if (v.child !== undefined) writeFileSync(v.child, JSON.stringify(rows));
  else report(rows, v.json);
}

function report(rows: SnapshotBytesRow[], json: string | undefined): void {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log('| format | turn tokens (measured) | cache tokens | written per turn (write_bytes) | write calls (wchar) | save payload | vs full | fsyncs per turn | longest save step, wall (median / max ms) | its CPU (median / max ms) | its wait for a CPU (median / max ms) | save start to end (ms) | stored | checkpoints off the core thread (longest ms) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const full = rows.find((x) => x.format === 'full' && x.turnTokens === r.turnTokens);
    const ratio = full ? `${((100 * r.writeBytes) / full.writeBytes).toFixed(1)} %` : '';
    console.log(
      `| ${r.format} | ${r.turnTokens} (${r.tokensPerTurn.toFixed(0)}) | ${r.cacheTokens} | ${kib(r.writeBytes)} | ${kib(r.wchar)} | ${kib(r.savedBytes)} | ${ratio} | ${r.fsyncs === undefined ? '–' : r.fsyncs.toFixed(2)} | ${r.saveMs.toFixed(1)} / ${r.saveMaxMs.toFixed(1)} | ${r.saveCpuMs.toFixed(1)} / ${r.saveCpuMaxMs.toFixed(1)} | ${r.saveWaitMs.toFixed(1)} / ${r.saveWaitMaxMs.toFixed(1)} | ${r.saveTotalMs.toFixed(1)} | ${kib(r.storedBytes)} | ${r.checkpoints} (${r.checkpointMaxMs.toFixed(0)}) |`,
    );
  }
  if (json) writeFileSync(json, JSON.stringify({ kind: 'perpetua.bench.snapshot-bytes', version: 1, rows }, null, 2));
}
