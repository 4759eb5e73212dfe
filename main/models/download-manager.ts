/**
 * The app's downloads: start, pause, resume, cancel, progress with speed and ETA, and survival of a restart (a
 * download's manifest and parts live in `<dir>/.downloads/<folder>/`; at start every one found is listed again and
 * those that were running go on). A finished folder is handed to `onFinished` (the library imports it).
 */
import { existsSync, readdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DownloadInfo } from '../api/download-schemas.js';
import { DownloadError } from './download-error.js';
import { partFile, sizeOf } from './file-download.js';
import type { HubClient } from './hub-client.js';
import {
  discardDownload,
  DOWNLOADS_DIR,
  planBytes,
  planDownload,
  readManifest,
  runDownload,
  stagingDir,
  type DownloadPlan,
  type DownloadRequest,
} from './model-download.js';
import { TransferRate } from '../shared/transfer-rate.js';

/** Marks a download the user paused (it stays paused after a restart). */
const PAUSED_MARK = 'paused';
const PROGRESS_EVERY_MS = 250;

export interface DownloadManagerOptions {
  /** Where models are downloaded (the app's writable models folder). */
  dir: string;
  client: HubClient;
  /** A download moved on (throttled) or changed state. */
  onChange(info: DownloadInfo): void;
  /** Imports a finished model folder and returns its library id. */
  onFinished(dir: string): Promise<string>;
  freeBytes?(dir: string): Promise<number>;
}

interface Entry {
  plan: DownloadPlan;
  info: DownloadInfo;
  abort: AbortController | null;
  running: Promise<void> | null;
  rate: TransferRate;
  lastEmit: number;
}

export class DownloadManager {
  private readonly entries = new Map<string, Entry>();
  private readonly ready: Promise<void>;
  private closed = false;

  constructor(private readonly opts: DownloadManagerOptions) {
    this.ready = this.restore();
  }

  async list(): Promise<DownloadInfo[]> {
    await this.ready;
    return [...this.entries.values()].map((e) => ({ ...e.info }));
  }

  /** Plans (asks the Hub) and starts a download; one already known for the same folder is resumed instead. */
  async start(req: DownloadRequest): Promise<DownloadInfo> {
    await this.ready;
    const plan = await planDownload(this.opts.client, this.opts.dir, req);
    const known = this.entries.get(plan.folder);
    if (known && known.info.state !== 'done') return this.resume(plan.folder);
    const entry = this.add(plan, 0);
    this.run(entry);
    return { ...entry.info };
  }

  async pause(id: string): Promise<DownloadInfo> {
    const e = this.entry(id);
    if (e.info.state === 'downloading') {
      e.abort?.abort();
      await e.running;
      const settled = e.info.state as DownloadInfo['state']; // set by the run that just ended
      if (settled === 'paused') await writeFile(join(stagingDir(this.opts.dir, id), PAUSED_MARK), '');
    }
    return { ...e.info };
  }

  async resume(id: string): Promise<DownloadInfo> {
    const e = this.entry(id);
    if (e.info.state === 'paused' || e.info.state === 'failed') this.run(e);
    return { ...e.info };
  }

  /** Stops the download and deletes its parts. */
  async cancel(id: string): Promise<void> {
    const e = this.entry(id);
    if (e.info.state === 'done') throw new DownloadError('already_exists', 'This download has finished; remove the model folder instead.');
    this.entries.delete(id); // no more events about it
    e.abort?.abort();
    await e.running;
    await discardDownload(this.opts.dir, id);
  }

  /** Stops every download without marking it paused, so the next start goes on with it. */
  async close(): Promise<void> {
    this.closed = true;
    await this.ready;
    for (const e of this.entries.values()) e.abort?.abort();
    await Promise.all([...this.entries.values()].map((e) => e.running));
  }

  private async restore(): Promise<void> {
    const root = join(this.opts.dir, DOWNLOADS_DIR);
    if (!existsSync(root)) return;
    for (const folder of readdirSync(root)) {
      const staging = join(root, folder);
      const plan = readManifest(staging);
      if (!plan || plan.folder !== folder) continue;
      const have = await Promise.all(plan.files.map(async (f) => (existsSync(join(staging, f.local)) ? f.size : await sizeOf(partFile(join(staging, f.local))))));
      const entry = this.add(plan, have.reduce((a, b) => a + b, 0));
      if (existsSync(join(staging, PAUSED_MARK))) entry.info.state = 'paused';
      else this.run(entry);
    }
  }

  private add(plan: DownloadPlan, bytesDone: number): Entry {
    const info: DownloadInfo = {
      id: plan.folder,
      repo: plan.repo,
      variant: plan.variant,
      commit: plan.commit,
      state: 'paused',
      bytesDone,
      bytesTotal: planBytes(plan),
      bytesPerSecond: 0,
      etaSeconds: null,
      file: plan.files[0]?.local ?? '',
    };
    const entry: Entry = { plan, info, abort: null, running: null, rate: new TransferRate(), lastEmit: 0 };
    this.entries.set(plan.folder, entry);
    return entry;
  }

  private run(e: Entry): void {
    if (this.closed) return;
    const abort = new AbortController();
    e.abort = abort;
    e.rate = new TransferRate();
    Object.assign(e.info, { state: 'downloading', error: undefined, errorCode: undefined, bytesPerSecond: 0, etaSeconds: null });
    this.emit(e, true);
    e.running = (async () => {
      try {
        await rm(join(stagingDir(this.opts.dir, e.plan.folder), PAUSED_MARK), { force: true });
        const dir = await runDownload(this.opts.client, this.opts.dir, e.plan, {
          signal: abort.signal,
          freeBytes: this.opts.freeBytes,
          onProgress: (p) => {
            e.rate.sample(p.bytesDone);
            Object.assign(e.info, { bytesDone: p.bytesDone, file: p.file, bytesPerSecond: e.rate.bytesPerSecond, etaSeconds: e.rate.etaSeconds(p.bytesTotal) });
            this.emit(e, false);
          },
        });
        e.info.modelId = await this.opts.onFinished(dir);
        Object.assign(e.info, { state: 'done', bytesDone: e.info.bytesTotal, bytesPerSecond: 0, etaSeconds: 0 });
      } catch (err) {
        const code = err instanceof DownloadError ? err.code : 'failed';
        if (code === 'cancelled') e.info.state = 'paused';
        else Object.assign(e.info, { state: 'failed', error: (err as Error).message, errorCode: code });
      } finally {
        e.abort = null;
        Object.assign(e.info, { bytesPerSecond: 0, etaSeconds: e.info.state === 'done' ? 0 : null });
        if (!this.closed) this.emit(e, true);
      }
    })();
  }

  private emit(e: Entry, always: boolean): void {
    if (this.entries.get(e.info.id) !== e) return;
    const now = performance.now();
    if (!always && now - e.lastEmit < PROGRESS_EVERY_MS) return;
    e.lastEmit = now;
    this.opts.onChange({ ...e.info });
  }

  private entry(id: string): Entry {
    const e = this.entries.get(id);
    if (!e) throw new DownloadError('not_found', 'That download is not in the list any more.');
    return e;
  }
}
