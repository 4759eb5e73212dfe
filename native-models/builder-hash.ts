import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A hash of the code that writes the graphs (this folder and graph/, sources or compiled), so a changed builder
 * never reuses a model that an older one generated and cached.
 */
export const GRAPH_BUILDER_HASH = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const ext = extname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  for (const dir of [here, join(here, 'graph')]) {
    for (const f of readdirSync(dir).sort()) if (f.endsWith(ext) && !f.includes('.test.')) hash.update(readFileSync(join(dir, f)));
  }
  return hash.digest('hex').slice(0, 12);
})();
