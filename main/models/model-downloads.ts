/**
 * The API side of getting models: the catalog with its fit to this machine, Hugging Face downloads (DownloadManager)
 * and in-app conversion of safetensors checkpoints. The core routes its catalog.*, downloads.* and models.convert
 * calls here; a finished download or conversion is imported through `importModel`.
 */
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CatalogModelSchema, type CatalogItem, type DownloadInfo } from '../api/download-schemas.js';
import type { ExecutionProvider, ModelInfo } from '../api/schemas.js';
import { CATALOG, catalogFit } from './catalog.js';
import { DownloadError } from './download-error.js';
import type { HashProgress } from '../engine/model-fingerprint.js';
import { DownloadManager } from './download-manager.js';
import { convertCheckpoint, type ConvertOptions } from './model-convert.js';
import { HubClient, type HubClientOptions } from './hub-client.js';
import { readManifest, type DownloadRequest } from './model-download.js';

export interface ModelDownloadsOptions {
  /** The writable folder downloads and conversions go to. */
  dir: string;
  hub: HubClientOptions;
  importModel(dir: string, hashing?: HashProgress): Promise<ModelInfo>;
  /** The library's models, to mark catalog entries already there. */
  listModels(): { id: string; path: string }[];
  onDownload(info: DownloadInfo): void;
  freeBytes?(dir: string): Promise<number>;
}

export class ModelDownloads {
  private readonly manager: DownloadManager;

  constructor(private readonly opts: ModelDownloadsOptions) {
    this.manager = new DownloadManager({
      dir: opts.dir,
      client: new HubClient(opts.hub),
      onChange: opts.onDownload,
      onFinished: async (dir) => (await opts.importModel(dir)).id,
      freeBytes: opts.freeBytes,
    });
  }

  catalog(provider: ExecutionProvider = 'cpu'): CatalogItem[] {
    const byRepo = new Map<string, string>();
    for (const m of this.opts.listModels()) {
      const repo = readManifest(m.path)?.repo;
      if (repo) byRepo.set(repo, m.id);
    }
    const ram = totalmem();
    return CATALOG.map((e) => ({
      ...CatalogModelSchema.parse(e), // the descriptive fields, without how to fetch
      ...catalogFit(e, provider, ram),
      machineRamBytes: ram,
      modelId: byRepo.get(e.repo),
    }));
  }

  list = () => this.manager.list();
  start = (req: DownloadRequest) => this.manager.start(req);
  pause = (id: string) => this.manager.pause(id);
  resume = (id: string) => this.manager.resume(id);
  cancel = (id: string) => this.manager.cancel(id);
  close = () => this.manager.close();

  /**
   * Converts a safetensors checkpoint into `<dir>/<name>-onnx` (progress in bytes of weights; cancelled, nothing is
   * left behind) and imports it.
   */
  async convert(src: string, opts: ConvertOptions & { hashing?: HashProgress } = {}): Promise<ModelInfo> {
    const from = resolve(src);
    const name = basename(from) === 'hf' ? basename(dirname(from)) : basename(from); // model/hf/ beside model/onnx/
    const out = join(this.opts.dir, `${name}-onnx`);
    if (existsSync(out)) throw new DownloadError('already_exists', `${out} already exists; delete it to convert again.`);
    await convertCheckpoint(from, out, opts);
    return this.opts.importModel(out, opts.hashing);
  }
}
