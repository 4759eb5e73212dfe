/**
 * Runs `work`, which reports through `emit` (a callback API such as a progress hook), as an async generator that
 * yields every emitted value as soon as it is emitted and returns what `work` resolved to. An error of `work`
 * (also a synchronous one) is thrown after the values emitted before it. The caller leaving early does not stop
 * `work`: pass it a signal for that.
 */
export async function* emitting<E, R>(work: (emit: (e: E) => void) => Promise<R>): AsyncGenerator<E, R> {
  const queue: E[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  const emit = (e: E) => {
    queue.push(e);
    wake?.();
  };
  const result = (async () => work(emit))().finally(() => {
    ended = true;
    wake?.();
  });
  result.catch(() => {}); // rethrown below, once the values before the error are out
  while (queue.length || !ended) {
    if (queue.length) yield queue.shift()!;
    else await new Promise<void>((r) => (wake = r));
    wake = null;
  }
  return await result;
}
