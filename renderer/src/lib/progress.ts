/** How far a long operation is, as the core reports it: `done` of `total` and the seconds left (null: not known yet). */
export interface Progress {
  done: number;
  total: number;
  etaSeconds?: number | null;
}

/** The figures of a progress packet, without its type and phase. */
export function progressOf(p: Progress): Progress {
  return { done: p.done, total: p.total, etaSeconds: p.etaSeconds ?? null };
}
