import { describeAdapter } from '../engine/gpu-adapter.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ExecutionProvider, ModelInfo, ModelVariant } from '../api/schemas.js';
import { EXECUTION_PROVIDERS } from '../engine/execution-provider.js';
import type { HashProgress } from '../engine/model-fingerprint.js';
import { Model } from '../engine/model.js';
import { folderVariants } from '../engine/model-files.js';
import { defaultPolicyFor, toConfig } from '../policy/policy.js';
import { PerpetuaError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import type { Model as ModelRow } from '../store/types.js';
import { toRowId } from '../store/row-id.js';
import { checkImportable } from './import-check.js';

/** What the library keeps about a model beside its folder (the store's `config` column). */
interface ModelSettings {
  modelType?: string;
  maxPositions?: number;
  provider?: ExecutionProvider;
  /** the export variant it runs (undefined: the best one for its provider) */
  variant?: string;
}

/**
 * The models the user has: rows in the store, the model folders found in `folders` (imported on first listing),
 * and the loaded ONNX sessions (one per model, provider and variant, loaded once, disposed on close).
 */
export class ModelLibrary {
  private readonly loaded = new Map<string, Promise<Model>>();
  /** folders of modelsDir that failed to load (an import loads the whole ONNX graph): not tried again */
  private readonly unusableDirs = new Set<string>();

  constructor(
    private readonly store: Store,
    /** folders whose model subfolders are imported (the bundled models, the downloads) */
    private readonly folders: readonly string[] = [],
    /** told once about each folder there that cannot be imported, so it is not passed over in silence */
    private readonly onUnusable?: (dir: string, err: unknown) => void,
    /** the provider a model added now runs on (the app's setting); one known before keeps its own */
    private readonly newModelProvider: () => ExecutionProvider = () => 'cpu',
  ) {}

  async list(): Promise<ModelInfo[]> {
    await this.importModelsDir();
    return this.store.listModels().map(toModelInfo);
  }

  /** `hashing`: progress of hashing the weights (slow the first time) and a stop; stopped, nothing is stored. */
  async import(dir: string, variant?: string, hashing?: HashProgress): Promise<ModelInfo> {
    checkImportable(dir);
    const model = await Model.load(dir, { variant, hashing });
    if (hashing?.signal?.aborted) {
      await model.dispose(); // stopped while it loaded: the library stays as it was
      throw new PerpetuaError('The import was cancelled.', { code: 'cancelled' });
    }
    const known = this.store.listModels().find((m) => m.fingerprint === model.fingerprint);
    const settings: ModelSettings = { ...(known?.config as ModelSettings | undefined), modelType: model.config.modelType, maxPositions: model.config.maxPositions, variant };
    const row = this.store.upsertModel({ name: model.name, dir: model.dir, fingerprint: model.fingerprint, config: { provider: this.newModelProvider(), ...settings } });
    // loaded on the CPU to check it: kept for when the model runs there
    const key = loadKey({ ...row, config: { ...row.config, provider: 'cpu' } });
    if (this.loaded.has(key)) await model.dispose();
    else this.loaded.set(key, Promise.resolve(model));
    return toModelInfo(row);
  }

  /** Chooses the provider a model runs on; returns it loaded there (it may have fallen back to the CPU). */
  async setProvider(id: string, provider: ExecutionProvider): Promise<{ info: ModelInfo; model: Model }> {
    const { row, model } = await this.change(id, { provider });
    return { info: { ...toModelInfo(row), provider: model.provider, error: model.providerFallbackReason ?? undefined, gpuAdapter: model.adapter ? describeAdapter(model.adapter) : undefined }, model };
  }

  /** Chooses the export variant a model runs (null: the best one for its provider); it loads before it is kept. */
  async setVariant(id: string, variant: string | null): Promise<{ info: ModelInfo; model: Model }> {
    const { row, model } = await this.change(id, { variant: variant ?? undefined });
    return { info: toModelInfo(row), model };
  }

  row(id: string | number): ModelRow {
    const row = this.store.getModel(toRowId(id, 'model'));
    if (!row) throw new PerpetuaError('That model is not in the library any more.', { code: 'not_found' });
    return row;
  }

  /** The model loaded on its chosen provider (loaded once; a failed load is tried again next time). */
  load(row: ModelRow): Promise<Model> {
    const key = loadKey(row);
    let model = this.loaded.get(key);
    if (!model) {
      model = Model.load(row.dir, { executionProvider: providerOf(row), variant: (row.config as ModelSettings).variant });
      model.catch(() => this.loaded.delete(key));
      this.loaded.set(key, model);
    }
    return model;
  }

  /**
   * Removes a model no chat uses: it is unloaded and its row goes. A folder inside the app's models folders (a download,
   * the built-in copy) is deleted too, or it would be imported again at the next listing; a folder imported from
   * elsewhere stays on disk. Returns whether its folder was deleted.
   */
  async remove(id: string, chats: number): Promise<{ deletedFolder: boolean }> {
    const row = this.row(id);
    if (chats > 0) {
      throw new PerpetuaError(`${chats} chat${chats === 1 ? ' uses' : 's use'} this model; switch ${chats === 1 ? 'it' : 'them'} to another model or delete ${chats === 1 ? 'it' : 'them'} first.`, { code: 'invalid_input' });
    }
    for (const [key, model] of [...this.loaded]) {
      if (!key.startsWith(`${row.id}:`)) continue;
      this.loaded.delete(key);
      await (await model.catch(() => null))?.dispose();
    }
    this.store.deleteModel(row.id);
    const dir = resolve(row.dir);
    const owned = this.folders.some((f) => dirname(dir) === resolve(f));
    if (owned) await rm(dir, { recursive: true, force: true });
    return { deletedFolder: owned };
  }

  async close(): Promise<void> {
    for (const m of this.loaded.values()) await (await m.catch(() => null))?.dispose();
    this.loaded.clear();
  }

  /** Loads the model with changed settings, and keeps them once it loaded. */
  private async change(id: string, settings: ModelSettings): Promise<{ row: ModelRow; model: Model }> {
    const row = this.row(id);
    const changed = { ...row, config: { ...row.config, ...settings } };
    const model = await this.load(changed);
    return { row: this.store.upsertModel(changed), model };
  }

  private async importModelsDir(): Promise<void> {
    for (const dir of new Set(this.folders.map((f) => resolve(f)))) await this.importFolders(dir);
  }

  private async importFolders(dir: string): Promise<void> {
    if (!existsSync(dir)) return;
    const known = new Set(this.store.listModels().map((m) => resolve(m.dir)));
    for (const name of modelFolderNames(dir)) {
      const sub = resolve(join(dir, name));
      if (known.has(sub) || this.unusableDirs.has(sub)) continue;
      // a dangling link or a file where a folder is expected is passed over, never a failure of the whole list
      if (statSync(sub, { throwIfNoEntry: false })?.isDirectory() !== true) continue;
      await this.import(sub).catch((err: unknown) => {
        this.unusableDirs.add(sub);
        this.onUnusable?.(sub, err);
      });
    }
  }
}

/**
 * The entries of a models folder that may hold a model: not hidden (.downloads and other unfinished work), and named
 * in UTF-8 — a name in another encoding (a Latin-1 folder) cannot be spelled back as a path, so it is skipped.
 */
export function modelFolderNames(dir: string): string[] {
  let names: Buffer[];
  try {
    names = readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return []; // unreadable: nothing to import, the models already known stay listed
  }
  return names.flatMap((raw) => {
    const name = raw.toString('utf8');
    return name.startsWith('.') || !Buffer.from(name, 'utf8').equals(raw) ? [] : [name];
  });
}

function providerOf(row: ModelRow): ExecutionProvider {
  return (row.config as ModelSettings).provider ?? 'cpu';
}

function loadKey(row: ModelRow): string {
  return `${row.id}:${providerOf(row)}:${(row.config as ModelSettings).variant ?? ''}`;
}

function toModelInfo(m: ModelRow): ModelInfo {
  const c = m.config as ModelSettings;
  return {
    id: String(m.id),
    name: m.name,
    path: m.dir,
    architecture: c.modelType,
    maxPositions: c.maxPositions,
    sizeBytes: onnxSize(m.dir),
    provider: providerOf(m),
    availableProviders: [...EXECUTION_PROVIDERS],
    variant: c.variant,
    variants: variantsOf(m.dir),
    defaultPolicy: toConfig(defaultPolicyFor(c.maxPositions)),
    // a folder deleted or moved since: marked, so it is not offered for new chats and its chats open read-only
    ...(existsSync(m.dir) ? {} : { missing: true }),
  };
}

/** The folder's export variants for the model manager (none for a folder that cannot be read any more). */
function variantsOf(dir: string): ModelVariant[] | undefined {
  try {
    return folderVariants(dir).map((v) => ({ name: v.name, dtype: v.dtype, kvDtype: v.kvDtype, sizeBytes: v.sizeBytes }));
  } catch {
    return undefined;
  }
}

function onnxSize(dir: string): number | undefined {
  try {
    const onnx = join(dir, 'onnx');
    return readdirSync(onnx).reduce((n, f) => n + statSync(join(onnx, f)).size, 0);
  } catch {
    return undefined;
  }
}
