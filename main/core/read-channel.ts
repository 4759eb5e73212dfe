/** Reads a channel in-process (tests, tools): its packets as they come, its first packet, its final packet. */
import { isFinalPacket } from '../api/packets.js';

export interface ChannelReader<P> {
  /** every packet so far */
  readonly packets: P[];
  /** the first packet (`started`); rejects when the request was refused */
  readonly started: Promise<P>;
  /** the final packet; rejects when the request was refused */
  readonly closed: Promise<P>;
  /** cancels the channel (it still ends with its final packet) */
  cancel(): void;
}

export function readChannel<P extends { type: string }>(open: (signal: AbortSignal) => AsyncIterable<P>): ChannelReader<P> {
  const abort = new AbortController();
  const packets: P[] = [];
  let first: (p: P) => void = () => {};
  const started = new Promise<P>((resolve) => (first = resolve));
  const closed = (async () => {
    for await (const p of open(abort.signal)) {
      packets.push(p);
      if (packets.length === 1) first(p);
      if (isFinalPacket(p)) return p;
    }
    throw new Error('The channel ended without a final packet.');
  })();
  closed.catch(() => {}); // a refusal is the caller's to handle, through `started` or `closed`
  return {
    packets,
    started: Promise.race([started, closed]),
    closed,
    cancel: () => abort.abort(),
  };
}
