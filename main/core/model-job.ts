import type { ModelJobPacket } from '../api/packets.js';
import type { ModelInfo } from '../api/schemas.js';
import { emitting } from '../shared/emitting.js';
import { errorCode } from '../shared/errors.js';
import { ProgressTicker } from '../shared/progress-ticker.js';

/**
 * A model job (import, conversion) as channel packets: progress per phase with an ETA, a few times a second, then
 * the imported model; a stop ends it `stopped`, an error `failed` with its code.
 */
export async function* modelJob(
  signal: AbortSignal,
  work: (progress: (phase: 'convert' | 'hash') => (done: number, total: number) => void) => Promise<ModelInfo>,
): AsyncGenerator<ModelJobPacket> {
  const tickers = { convert: new ProgressTicker(), hash: new ProgressTicker() };
  try {
    const model = yield* emitting<ModelJobPacket, ModelInfo>((emit) =>
      work((phase) => (done, total) => {
        const figures = tickers[phase].tick(done, total);
        if (figures) emit({ type: 'progress', phase, ...figures });
      }),
    );
    yield { type: 'done', model };
  } catch (err) {
    if (signal.aborted || errorCode(err) === 'cancelled') yield { type: 'stopped' };
    else yield { type: 'failed', error: { code: errorCode(err), message: (err as Error)?.message || 'The model could not be imported.' } };
  }
}
