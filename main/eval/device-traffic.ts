import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { decoderFeeds, newKvName } from '../engine/decoder-layout.js';
import { KvBuffer } from '../engine/kv-buffer.js';
import { buildEvictGraph } from '../engine/kv-edit-graph.js';
import type { CacheKv } from '../engine/layer-kv.js';
import type { Model } from '../engine/model.js';

/** Where one run's nodes ran and what crossed between host and device during it. */
export interface RunTraffic {
  /** nodes per execution provider (onnxruntime's names), onnxruntime's own copy nodes left out */
  placement: Record<string, number>;
  /** op types placed on the CPU in a run on a GPU provider (shape arithmetic is expected there; matmuls are not) */
  cpuOps: string[];
  /** bytes sent to the device: host-memory inputs, and the copies onnxruntime inserted to feed device nodes */
  upBytes: number;
  /** bytes read back: outputs placed in host memory, and the copies onnxruntime inserted to feed CPU nodes */
  downBytes: number;
  /** copy nodes onnxruntime inserted inside the graph (each one a sync between host and device) */
  copies: number;
}

export interface DeviceTraffic {
  provider: string;
  /** one decode step after a prefill of `pastTokens` tokens */
  decode: RunTraffic;
  /** one eviction by the KV edit graph (null where the KV lives on the host and the cache edits it itself) */
  eviction: RunTraffic | null;
  pastTokens: number;
}

/**
 * Measures a model's structure on its provider from onnxruntime's profile: a prefill, then one decode step fed the
 * KV as the engine feeds it (device tensors where the KV stays on the device, the host buffer of an appending graph),
 * then one eviction through the edit graph. Speed is not measured: on a software adapter it says nothing of a GPU.
 */
export async function measureDeviceTraffic(model: Model, pastTokens = 16): Promise<DeviceTraffic> {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-profile-'));
  try {
    const onDevice = model.kvOnDevice && model.provider !== 'cpu';
    const present = model.layout.appendsKv
      ? []
      : Array.from({ length: model.config.layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();
    // the engine's own session options for where outputs live; profiled where asked
    const options = (profile?: string, outputs: string[] = present): ort.InferenceSession.SessionOptions => ({
      executionProviders: [model.provider],
      logSeverityLevel: 3,
      preferredOutputLocation: onDevice ? Object.fromEntries(outputs.map((n) => [n, 'gpu-buffer' as const])) : undefined,
      ...(profile ? { enableProfiling: true, profileFilePrefix: join(dir, profile) } : {}),
    });
    const session = await ort.InferenceSession.create(model.onnxPath, options('decoder'));
    const g = model.geometry;
    const ids = Array.from({ length: pastTokens }, (_, i) => 5 + i);
    const prefill = (past: KvBuffer | CacheKv[]) => decoderFeeds(model.layout, g, { ids, positions: ids.map((_, i) => i), past, pastLength: 0, allLogits: false });
    let decodeFeeds: Record<string, ort.Tensor>;
    let kv: CacheKv[] = [];
    if (model.layout.appendsKv) {
      const buffer = new KvBuffer(g, pastTokens + 64, model.kvDtype);
      const first = await session.run(prefill(buffer));
      buffer.append(Array.from({ length: g.layers }, (_, l) => ({ key: first[newKvName(l, 'key')].data as Float32Array, value: first[newKvName(l, 'value')].data as Float32Array })), pastTokens);
      decodeFeeds = decoderFeeds(model.layout, g, { ids: [7], positions: [pastTokens], past: buffer, pastLength: pastTokens, allLogits: false });
    } else {
      const first = await session.run(prefill([]));
      kv = Array.from({ length: g.layers }, (_, l) => ({ key: first[`present.${l}.key`], value: first[`present.${l}.value`] }));
      decodeFeeds = decoderFeeds(model.layout, g, { ids: [7], positions: [pastTokens], past: kv, pastLength: pastTokens, allLogits: false });
    }
    const out = await session.run(decodeFeeds);
    session.endProfiling();
    const decode = lastRun(readProfile(dir, 'decoder'), decodeFeeds, out);
    for (const t of [...Object.values(out), ...kv.flatMap((l) => [l.key, l.value])]) if (t instanceof ort.Tensor && t.location !== 'cpu') t.dispose();
    await session.release();

    let eviction: RunTraffic | null = null;
    if (model.kvOnDevice) {
      const edited = Array.from({ length: g.layers }, (_, l) => [`key_out.${l}`, `value_out.${l}`]).flat();
      const edit = await ort.InferenceSession.create(buildEvictGraph(g, model.config.rope.rotaryDim, model.config.rope.style, model.kvDtype), options('evict', edited));
      const half = model.config.rope.rotaryDim / 2;
      const feeds: Record<string, ort.Tensor> = {
        keep: new ort.Tensor('int64', BigInt64Array.of(4n), [1]),
        drop: new ort.Tensor('int64', BigInt64Array.of(4n), [1]),
        cos: new ort.Tensor('float32', new Float32Array(half).fill(1), [half]),
        sin: new ort.Tensor('float32', new Float32Array(half), [half]),
      };
      // device KV as the cache holds it: a fresh prefill's present outputs
      const again = await ort.InferenceSession.create(model.onnxPath, options());
      const filled = await again.run(prefill([]));
      for (let l = 0; l < g.layers; l++) {
        feeds[`key.${l}`] = filled[`present.${l}.key`];
        feeds[`value.${l}`] = filled[`present.${l}.value`];
      }
      const evicted = await edit.run(feeds);
      edit.endProfiling();
      eviction = lastRun(readProfile(dir, 'evict'), feeds, evicted);
      for (const t of [...Object.values(filled), ...Object.values(evicted)]) if (t.location !== 'cpu') t.dispose();
      await Promise.all([edit.release(), again.release()]);
    }
    return { provider: model.provider, decode, eviction, pastTokens };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; provider?: string; output_size?: string };
}

function readProfile(dir: string, prefix: string): ProfileEvent[] {
  const file = readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
  if (!file) throw new Error(`onnxruntime wrote no profile for ${prefix}.`);
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
}

/** The nodes of the profile's last run, and the bytes its host-memory feeds and outputs carried. */
function lastRun(events: ProfileEvent[], feeds: Record<string, ort.Tensor>, outputs: Record<string, ort.Tensor>): RunTraffic {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const run = runs[runs.length - 1];
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && (!run || (e.ts >= run.ts && e.ts <= run.ts + run.dur)));
  const placement: Record<string, number> = {};
  const cpuOps = new Set<string>();
  let upBytes = 0;
  let downBytes = 0;
  let copies = 0;
  for (const n of nodes) {
    const op = n.args?.op_name ?? '';
    const size = Number(n.args?.output_size ?? 0);
    if (op === 'MemcpyFromHost') (upBytes += size), copies++;
    else if (op === 'MemcpyToHost') (downBytes += size), copies++;
    else {
      const provider = n.args?.provider ?? 'unknown';
      placement[provider] = (placement[provider] ?? 0) + 1;
      if (provider === 'CPUExecutionProvider') cpuOps.add(op);
    }
  }
  const bytes = (t: ort.Tensor) => (t.location === 'cpu' ? (t.data as ArrayBufferView).byteLength : 0);
  upBytes += Object.values(feeds).reduce((s, t) => s + bytes(t), 0);
  downBytes += Object.values(outputs).reduce((s, t) => s + bytes(t), 0);
  return { placement, cpuOps: [...cpuOps].sort(), upBytes, downBytes, copies };
}
