import { basename } from 'node:path';
import ort from 'onnxruntime-node';
import { readOnnxContents } from './onnx-contents.js';
import { describeAdapter, probeWebGpuAdapter, type GpuAdapter } from './gpu-adapter.js';

// onnxruntime 1.30 on Linux starts a telemetry client with its first session. Besides phoning home from an
// offline app, it matches the whole /proc/self/cmdline with a recursive std::regex, so a command line of
// ~29 KB (a long --prompt) overflows the main thread's stack and the process dies with SIGSEGV.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda', 'dml', 'coreml'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
/** 'auto' tries this platform's GPU providers in order of preference, then the CPU. */
export type ProviderRequest = ExecutionProvider | 'auto';

/** GPU providers worth trying on each platform, best first (WebGPU ships with onnxruntime-node everywhere). */
export function autoProviders(platform: NodeJS.Platform = process.platform): ExecutionProvider[] {
  if (platform === 'win32') return ['dml', 'webgpu', 'cuda'];
  if (platform === 'darwin') return ['webgpu', 'coreml'];
  return ['cuda', 'webgpu'];
}

export interface OpenedSession {
  session: ort.InferenceSession;
  /** the graph file opened (the export variant can depend on the provider) */
  file: string;
  /** the provider that actually runs the model */
  provider: ExecutionProvider;
  /** why the requested provider is not the one in use, if it is not */
  fallbackReason: string | null;
  /** the WebGPU adapter the model runs on (null on other providers) */
  adapter: GpuAdapter | null;
}

/**
 * Opens an ONNX session on the requested provider (or the first that works, for 'auto') and falls back to the
 * CPU, reporting why, when a provider is missing on this machine (no GPU adapter, no CUDA libraries, wrong OS).
 */
export async function openSession(
  fileFor: string | ((provider: ExecutionProvider) => string),
  requested: ProviderRequest,
  kvLayersOnDevice = 0,
  extra: ort.InferenceSession.SessionOptions = {},
): Promise<OpenedSession> {
  const file = (p: ExecutionProvider) => (typeof fileFor === 'string' ? fileFor : fileFor(p));
  // A missing provider is reported to the user as one sentence; keep onnxruntime's own log out of the terminal.
  ort.env.logLevel = 'fatal';
  // On a GPU the present KV outputs stay in GPU memory and are fed back as the next run's past. onnxruntime
  // refuses a location for an output the graph lacks, and appending graphs have no present outputs.
  const onDevice = (provider: ExecutionProvider) => {
    if (provider === 'cpu' || kvLayersOnDevice === 0) return undefined;
    const outputs = new Set(readOnnxContents(file(provider)).outputs.map((o) => o.name));
    const present = Array.from({ length: kvLayersOnDevice }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();
    return Object.fromEntries(present.filter((name) => outputs.has(name)).map((name) => [name, 'gpu-buffer' as const]));
  };
  const options = (provider: ExecutionProvider): ort.InferenceSession.SessionOptions => ({
    ...extra,
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // A decoder's shapes change every step (the mask grows), so a memory pattern would be planned anew each run and
    // never reused: about 3 % of a decode step on the 135M shape. DirectML needs it off anyway.
    enableMemPattern: false,
    logSeverityLevel: 3,
    preferredOutputLocation: onDevice(provider),
  });
  const failures: string[] = [];
  for (const provider of requested === 'auto' ? autoProviders() : requested === 'cpu' ? [] : [requested]) {
    // Perpetua's appending graph reads the past from a host buffer the cache writes: on a GPU its attention would run
    // on the CPU (no FusedMatMul kernel there) and the whole buffer would be uploaded every step
    if (appendsKv(file(provider))) {
      failures.push(`${provider} is not used for ${basename(file(provider))}, Perpetua's CPU graph (convert with --ep ${provider} for a graph that keeps the KV on the GPU)`);
      continue;
    }
    const adapter = provider === 'webgpu' ? await probeWebGpuAdapter() : null;
    // WebGPU over a CPU implementation (Mesa's lavapipe) runs, ~50x slower than the CPU provider: never chosen for the user
    if (requested === 'auto' && adapter?.software) {
      failures.push(`webgpu would run on a ${describeAdapter(adapter)}, slower than the CPU`);
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(file(provider), options(provider));
      return { session, file: file(provider), provider, adapter, fallbackReason: failures.length ? `${failures.join('; ')}; using ${provider}.` : null };
    } catch (err) {
      failures.push(provider === 'webgpu' && !adapter ? 'webgpu found no GPU adapter here (no GPU, or no Vulkan, Metal or Direct3D 12 driver)' : `${provider} is not available here (${firstLine(err)})`);
    }
  }
  const session = await ort.InferenceSession.create(file('cpu'), options('cpu'));
  return { session, file: file('cpu'), provider: 'cpu', adapter: null, fallbackReason: failures.length ? `${failures.join('; ')}, so the model runs on the CPU.` : null };
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // onnxruntime colours its messages for a terminal: the escape sequences are not for a sentence
  return text
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')[0]
    // a failed kernel: "Non-zero status code returned while running Add node. Name:'x' Status Message: <file>:<line>
    // <function> <condition> was false. <why>" says the node and why; the source line is for onnxruntime's developers
    .replace(/^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: /, '$1 node $2: ')
    .replace(/\S+\.(?:h|cc|cpp):\d+ .*? was false\. /, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** Whether the graph is Perpetua's appending layout (it returns only the new tokens' KV). */
function appendsKv(file: string): boolean {
  return readOnnxContents(file).outputs.some((o) => o.name === 'new_key_values.0.key');
}
