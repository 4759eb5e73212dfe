/**
 * Returns a scheduler that runs `flush` once on the next animation frame however often it is called before
 * then, so token deltas arriving faster than the screen refreshes cost one render per frame. A hidden page
 * gets no frames: a 16 ms timer stands in, so text still arrives.
 */
export function frameBatcher(flush: () => void): () => void {
  let scheduled = false;
  const run = () => {
    scheduled = false;
    flush();
  };
  return () => {
    if (scheduled) return;
    scheduled = true;
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') requestAnimationFrame(run);
    else setTimeout(run, 16);
  };
}
