import ort from 'onnxruntime-node';

export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda', 'dml', 'coreml'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export interface OpenedSession {
  session: ort.InferenceSession;
  /** the provider that actually runs the model */
  provider: ExecutionProvider;
  /** why the requested provider is not the one in use, if it is not */
  fallbackReason: string | null;
}

/**
 * Opens an ONNX session on the requested provider and falls back to the CPU, reporting why, when the provider
 * is missing on this machine (no GPU adapter, no CUDA libraries, wrong OS).
 */
export async function openSession(file: string, requested: ExecutionProvider, kvLayersOnDevice = 0): Promise<OpenedSession> {
  // A missing provider is reported to the user as one sentence; keep onnxruntime's own log out of the terminal.
  ort.env.logLevel = 'fatal';
  // On a GPU the present KV outputs stay in GPU memory and are fed back as the next run's past.
  const onDevice = (provider: ExecutionProvider) =>
    provider === 'cpu' || kvLayersOnDevice === 0
      ? undefined
      : Object.fromEntries(
          Array.from({ length: kvLayersOnDevice }, (_, l) => [`present.${l}.key`, `present.${l}.value`])
            .flat()
            .map((name) => [name, 'gpu-buffer' as const]),
        );
  const options = (provider: ExecutionProvider): ort.InferenceSession.SessionOptions => ({
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    preferredOutputLocation: onDevice(provider),
  });
  if (requested !== 'cpu') {
    try {
      const session = await ort.InferenceSession.create(file, options(requested));
      return { session, provider: requested, fallbackReason: null };
    } catch (err) {
      const reason = `${requested} is not available here (${firstLine(err)}), so the model runs on the CPU.`;
      const session = await ort.InferenceSession.create(file, options('cpu'));
      return { session, provider: 'cpu', fallbackReason: reason };
    }
  }
  return { session: await ort.InferenceSession.create(file, options('cpu')), provider: 'cpu', fallbackReason: null };
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].replace(/\s+/g, ' ').trim().slice(0, 200);
}
