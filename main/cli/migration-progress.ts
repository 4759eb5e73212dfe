/**
 * How an upgrade of the chat database goes, on stderr: opening a database from an older Perpetua builds the new
 * search index over every message, which takes seconds for a large one. A line at the start, about every tenth, and
 * at the end.
 */
export function migrationProgressOnStderr(write: (line: string) => void = (l) => void process.stderr.write(l)) {
  let shown = -1;
  return (p: { step: string; done: number; total: number }): void => {
    const tenth = p.total > 0 ? Math.floor((10 * p.done) / p.total) : 10;
    if (tenth === shown) return;
    shown = tenth;
    write(`[upgrading the database: ${p.step}, ${p.done}/${p.total} messages]\n`);
  };
}
