import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelLoadError } from './errors.js';
import { readOnnxContents } from './onnx-contents.js';
import { checkFolderFile, FolderFileError } from '../shared/folder-file.js';
import { MODEL_FILE_LIMITS } from './model-file-limits.js';

/**
 * The identity of a model for snapshots and the library: SHA-256 over config, tokenizer and every byte of the
 * weights — the graph file and each external data file it refers to — so a copy that differs anywhere (64 KB
 * zeroed mid-file included) is another model.
 */
export async function modelFingerprint(graph: string, configFile: string, tokenizerFile: string, hashes: WeightHashes, progress: HashProgress = {}): Promise<string> {
  const h = createHash('sha256');
  h.update(readFileSync(configFile));
  h.update(readFileSync(tokenizerFile));
  const files = [graph, ...externalDataFiles(graph)];
  const total = files.reduce((n, f) => n + statSync(f).size, 0);
  let before = 0;
  for (const file of files) {
    const sha256 = await hashes.sha256(file, { signal: progress.signal, onBytes: (n) => progress.onProgress?.(before + n, total) });
    h.update(`${basename(file)}:${sha256}\n`);
    before += statSync(file).size;
    progress.onProgress?.(before, total);
  }
  return h.digest('hex').slice(0, 32);
}

/** Hashing gigabytes takes a while the first time: bytes hashed of the total, and a stop. */
export interface HashProgress {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** The external data files a graph's initializers refer to, beside the graph, each once. */
export function externalDataFiles(graph: string): string[] {
  const locations = new Set(readOnnxContents(graph).initializers.flatMap((t) => (t.external ? [t.external.location] : [])));
  return [...locations].sort().map((location) => {
    const file = resolve(dirname(graph), location);
    if (!existsSync(file)) {
      throw new ModelLoadError(`${basename(graph)} keeps weights in ${location}, which is missing from ${dirname(graph)}.`);
    }
    // a location is untrusted: it must stay beside the graph and be a regular file (not a FIFO, not /dev/zero)
    try {
      return checkFolderFile(dirname(graph), location, MODEL_FILE_LIMITS.weights).path;
    } catch (err) {
      if (err instanceof FolderFileError) throw new ModelLoadError(`${basename(graph)} keeps weights in ${location}, which ${err.reason}.`);
      throw err;
    }
  });
}

interface CachedHash {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

/**
 * SHA-256 of weight files, cached in a JSON file keyed by path and checked against size, mtime and inode: hashing
 * gigabytes at every start would take seconds, and a file changed in place gets a new mtime (rewritten or copied
 * over, a new inode too). A change that keeps all three (a deliberate `touch -r`) is not seen — the trade-off
 * git's index makes as well.
 */
export class WeightHashes {
  private entries: Record<string, CachedHash> | null = null;

  constructor(private readonly cacheFile: string | null) {}

  /** The cache under $PERPETUA_CACHE_DIR, else $XDG_CACHE_HOME/perpetua, else ~/.cache/perpetua. */
  static atDefaultLocation(): WeightHashes {
    const dir = process.env.PERPETUA_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'perpetua');
    return new WeightHashes(join(dir, 'weight-hashes.json'));
  }

  async sha256(file: string, opts: { signal?: AbortSignal; onBytes?: (read: number) => void } = {}): Promise<string> {
    const path = resolve(file);
    const st = statSync(path);
    const key = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    const hit = this.load()[path];
    if (hit && hit.size === key.size && hit.mtimeMs === key.mtimeMs && hit.ino === key.ino) return hit.sha256;
    const h = createHash('sha256');
    let read = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) {
      opts.signal?.throwIfAborted();
      h.update(chunk as Buffer);
      read += (chunk as Buffer).length;
      opts.onBytes?.(read);
    }
    const sha256 = h.digest('hex');
    this.load()[path] = { ...key, sha256 };
    this.save();
    return sha256;
  }

  private load(): Record<string, CachedHash> {
    if (this.entries) return this.entries;
    try {
      this.entries = this.cacheFile && existsSync(this.cacheFile) ? JSON.parse(readFileSync(this.cacheFile, 'utf8')) : {};
    } catch {
      this.entries = {}; // a damaged cache only costs a re-hash
    }
    return this.entries!;
  }

  /** Written whole to a temporary file and renamed, so a crash or a second process never leaves half a cache. */
  private save(): void {
    if (!this.cacheFile) return;
    try {
      mkdirSync(dirname(this.cacheFile), { recursive: true });
      const tmp = `${this.cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.entries));
      renameSync(tmp, this.cacheFile);
    } catch {
      // a read-only cache folder only costs a re-hash next time
    }
  }
}
