/** A channel of the typed client (listener + `closed`) as an async iterator of its packets, for a request handler to walk. */
import type { Channel } from '../api/perpetua-api.js';

export interface PacketStream<P> extends AsyncIterable<P> {
  cancel(): void;
}

export function packetStream<P>(open: (onPacket: (p: P) => void) => Channel<P>): PacketStream<P> {
  const queue: P[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let failure: unknown = null;
  const channel = open((p) => {
    queue.push(p);
    wake?.();
  });
  channel.closed.then(
    () => finish(null),
    (err: unknown) => finish(err ?? new Error('The channel failed.')),
  );
  function finish(err: unknown): void {
    ended = true;
    failure = err;
    wake?.();
  }
  return {
    cancel: () => channel.cancel(),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (ended) {
          if (failure) throw failure; // refused before its first packet (busy, not found, invalid)
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
  };
}
