/**
 * A whole model from the Hub into a models folder. The revision is pinned to the commit the Hub names first, so
 * every file comes from the same commit, also after a resume. Files are fetched into
 * `<modelsDir>/.downloads/<folder>/` (with a manifest that lets a later run, or the app after a restart, resume)
 * and the folder is renamed to `<modelsDir>/<folder>` only once every file is verified: nothing half-written is
 * ever where a model is looked for.
 */
import { mkdir, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ExecutionProvider } from '../api/schemas.js';
import { DownloadError } from './download-error.js';
import { fetchFile, partFile, sizeOf } from './file-download.js';
import type { HubClient } from './hub-client.js';
import { chooseVariant } from './variant-files.js';
import { checkFileNames, unsafeNameReason } from './safe-file-name.js';

export const DOWNLOADS_DIR = '.downloads';
export const MANIFEST_FILE = 'perpetua-download.json';
/** Free space kept beyond what the files need (the OS, the database, snapshots). */
const DISK_MARGIN = 256 * 1024 * 1024;

// a manifest read back from disk is checked like a fresh plan: safe names, and a checksum for every file
const PlannedFileSchema = z.object({
  remote: z.string().refine((p) => unsafeNameReason(p) === null, 'a file name is not safe to fetch'),
  local: z.string().refine((p) => unsafeNameReason(p) === null, 'a file path leaves the model folder'),
  size: z.number().int().nonnegative(),
  check: z.object({ algorithm: z.enum(['sha256', 'git-sha1']), digest: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/) }),
  etag: z.string().nullable(),
});

/** Files one variant may have (real ones: a graph, a few data chunks and the tokenizer files). */
export const MAX_PLANNED_FILES = 256;
/** HEAD requests in flight at once while a download is planned. */
const PLAN_CONCURRENCY = 4;

export const DownloadPlanSchema = z.object({
  repo: z.string(),
  /** What was asked for (branch, tag or commit). */
  revision: z.string(),
  /** What it pointed at when the download started. */
  commit: z.string(),
  variant: z.string(),
  /** Folder name inside the models folder. */
  folder: z.string(),
  files: z.array(PlannedFileSchema),
});
export type DownloadPlan = z.infer<typeof DownloadPlanSchema>;

export interface DownloadRequest {
  repo: string;
  revision?: string;
  variant?: string;
  /** Picks the variant when none is named (default cpu). */
  provider?: ExecutionProvider;
}

export interface DownloadProgress {
  file: string;
  fileIndex: number;
  fileCount: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?(p: DownloadProgress): void;
  /** Free bytes where the model is written (default: the file system's own figure). */
  freeBytes?(dir: string): Promise<number>;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function stagingDir(modelsDir: string, folder: string): string {
  return join(modelsDir, DOWNLOADS_DIR, folder);
}

/** Asks the Hub what to fetch: the commit, the variant's files, their sizes and hashes. */
export async function planDownload(client: HubClient, modelsDir: string, req: DownloadRequest, signal?: AbortSignal): Promise<DownloadPlan> {
  if (!REPO_ID.test(req.repo) || req.repo.includes('..')) {
    throw new DownloadError('not_found', `"${req.repo}" is not a Hub repo id (owner/name).`);
  }
  const revision = req.revision ?? 'main';
  const rev = await client.revision(req.repo, revision, signal);
  const variant = chooseVariant(req.repo, rev.files, req.variant, req.provider);
  const folder = `${req.repo.split('/')[1]}-${variant.name.replace(/[^\w.-]+/g, '-')}`;
  // a download of the same thing started before keeps its commit, so its parts stay valid
  const started = readManifest(stagingDir(modelsDir, folder));
  const commit = started && started.repo === req.repo && started.revision === revision ? started.commit : rev.commit;
  if (variant.files.length > MAX_PLANNED_FILES) {
    throw new DownloadError('network', `${req.repo} has ${variant.files.length} files for the ${variant.name} variant, more than the ${MAX_PLANNED_FILES} Perpetua fetches for one model.`);
  }
  // every name is written into the models folder: it must mean the same path inside it on every system
  checkFileNames(req.repo, variant.files.map((f) => f.local));
  checkFileNames(req.repo, variant.files.map((f) => f.remote));
  const files: z.infer<typeof PlannedFileSchema>[] = new Array(variant.files.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < variant.files.length; i = next++) {
      const f = variant.files[i];
      const meta = await client.fileMeta(req.repo, commit, f.remote, signal);
      if (meta.commit && meta.commit !== commit) {
        throw new DownloadError('network', `The Hub served ${f.remote} from commit ${meta.commit}, not the pinned ${commit}.`);
      }
      // a file whose hash the Hub does not announce could be anything: it is not fetched, rather than fetched unchecked
      if (!meta.check) {
        throw new DownloadError(
          'network',
          `${client.endpoint} did not announce a checksum for ${f.remote} of ${req.repo}, so Perpetua cannot check it and does not download it; try again, or use the Hub itself if this is a mirror.`,
        );
      }
      files[i] = { ...f, size: meta.size, check: meta.check, etag: meta.etag };
    }
  };
  await Promise.all(Array.from({ length: Math.min(PLAN_CONCURRENCY, variant.files.length) }, worker));
  return DownloadPlanSchema.parse({ repo: req.repo, revision, commit, variant: variant.name, folder, files });
}

export function planBytes(plan: DownloadPlan): number {
  return plan.files.reduce((n, f) => n + f.size, 0);
}

/** Fetches what is missing (resuming parts), verifies every file, and moves the model into place. Returns its folder. */
export async function runDownload(client: HubClient, modelsDir: string, plan: DownloadPlan, opts: RunOptions = {}): Promise<string> {
  const final = join(modelsDir, plan.folder);
  if (existsSync(final)) {
    const there = readManifest(final);
    if (there?.repo === plan.repo && there.commit === plan.commit && there.variant === plan.variant) return final; // done before
    throw new DownloadError('already_exists', `${final} already exists; delete it or choose another models folder.`);
  }
  const staging = stagingDir(modelsDir, plan.folder);
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, MANIFEST_FILE), JSON.stringify(plan, null, 2));

  const have = await Promise.all(plan.files.map((f) => bytesHeld(join(staging, f.local), f.size)));
  const total = planBytes(plan);
  let done = have.reduce((a, b) => a + b, 0);
  const free = await (opts.freeBytes ?? freeDiskBytes)(staging);
  if (free < total - done + DISK_MARGIN) {
    throw new DownloadError(
      'disk_full',
      `${plan.repo} needs ${gib(total - done)} more on this disk but only ${gib(Math.max(0, free - DISK_MARGIN))} is free; make room and try again.`,
    );
  }
  for (const [i, f] of plan.files.entries()) {
    const dest = join(staging, f.local);
    const report = () => opts.onProgress?.({ file: f.local, fileIndex: i, fileCount: plan.files.length, bytesDone: done, bytesTotal: total });
    report();
    if (existsSync(dest)) continue; // only verified files carry their real name
    await fetchFile(
      client,
      { url: client.resolveUrl(plan.repo, plan.commit, f.remote), dest, size: f.size, check: f.check, etag: f.etag },
      {
        signal: opts.signal,
        onBytes: (n) => {
          done += n;
          report();
        },
      },
    );
  }
  await rename(staging, final);
  return final;
}

/** Drops a download's fetched bytes (cancel). */
export async function discardDownload(modelsDir: string, folder: string): Promise<void> {
  await rm(stagingDir(modelsDir, folder), { recursive: true, force: true });
}

/** The plan a download folder (staging, or a finished model folder) was fetched by; null when none. */
export function readManifest(dir: string): DownloadPlan | null {
  try {
    return DownloadPlanSchema.parse(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')));
  } catch {
    return null;
  }
}

async function bytesHeld(dest: string, size: number): Promise<number> {
  return existsSync(dest) ? size : Math.min(size, await sizeOf(partFile(dest)));
}

async function freeDiskBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.ceil(n / 1024 ** 2)} MiB`;
}
