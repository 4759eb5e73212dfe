import type { CatalogItem, DownloadInfo, ExecutionProvider, PerpetuaBridge } from './api.js';
import { errorMessage } from './transport.js';

/** What the model manager needs from the app: the toast line and a fresh model list. */
export interface ModelsHost {
  api: PerpetuaBridge;
  toast(kind: 'info' | 'error', text: string): void;
  loadModels(): Promise<void>;
}

/** The catalog, the downloads and imports of the model manager. */
export class ModelsState {
  catalog = $state.raw<CatalogItem[]>([]);
  downloads = $state.raw<DownloadInfo[]>([]);
  /** Which provider the catalog's variants and fit are for. */
  provider = $state<ExecutionProvider>('cpu');
  /** A folder the core said is a safetensors checkpoint: offer to convert it. */
  convertible = $state<string | null>(null);
  /** Why the last import failed, shown under the import field until the next try. */
  importError = $state<string | null>(null);
  busy = $state(false);

  constructor(private readonly host: ModelsHost) {
    host.api.on('download', (d) => {
      const known = this.downloads.some((x) => x.id === d.id);
      this.downloads = known ? this.downloads.map((x) => (x.id === d.id ? d : x)) : [...this.downloads, d];
      if (d.state === 'done') {
        this.host.toast('info', `Downloaded ${d.repo} (${d.variant}); it is in your models.`);
        void this.host.loadModels();
        void this.loadCatalog();
      }
      if (d.state === 'failed' && d.error) this.host.toast('error', d.error);
    });
  }

  async load(): Promise<void> {
    await Promise.all([this.loadCatalog(), this.attempt(async () => (this.downloads = await this.host.api.downloadsList()))]);
  }

  async loadCatalog(): Promise<void> {
    await this.attempt(async () => (this.catalog = await this.host.api.catalogList({ provider: this.provider })));
  }

  downloadOf(item: CatalogItem): DownloadInfo | undefined {
    return this.downloads.find((d) => d.repo === item.repo && d.variant === item.variant);
  }

  download(item: CatalogItem): Promise<boolean> {
    return this.attempt(async () => {
      const d = await this.host.api.downloadsStart({ repo: item.repo, revision: item.revision, variant: item.variant });
      this.downloads = [...this.downloads.filter((x) => x.id !== d.id), d];
    });
  }

  pause = (id: string) => this.update(() => this.host.api.downloadsPause({ id }));
  resume = (id: string) => this.update(() => this.host.api.downloadsResume({ id }));

  cancel(id: string): Promise<boolean> {
    return this.attempt(async () => {
      await this.host.api.downloadsCancel({ id });
      this.downloads = this.downloads.filter((d) => d.id !== id);
    });
  }

  /** Imports a folder; a checkpoint that needs converting is remembered so the manager can offer it. */
  async importDir(dir: string): Promise<boolean> {
    this.convertible = null;
    this.importError = null;
    this.busy = true;
    try {
      const m = await this.host.api.modelsImport({ dir });
      this.host.toast('info', `Imported ${m.name}.`);
      await this.host.loadModels();
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'needs_conversion') this.convertible = dir;
      this.importError = errorMessage(err);
      return false;
    } finally {
      this.busy = false;
    }
  }

  async pickAndImport(): Promise<void> {
    const dir = await this.host.api.pickFolder();
    if (dir) await this.importDir(dir);
  }

  async convert(): Promise<void> {
    const dir = this.convertible;
    if (!dir) return;
    this.busy = true;
    const ok = await this.attempt(async () => {
      const m = await this.host.api.modelsConvert({ dir });
      this.host.toast('info', `Converted and imported ${m.name}.`);
      await this.host.loadModels();
    });
    if (ok) this.convertible = this.importError = null;
    this.busy = false;
  }

  private update(call: () => Promise<DownloadInfo>): Promise<boolean> {
    return this.attempt(async () => {
      const d = await call();
      this.downloads = this.downloads.map((x) => (x.id === d.id ? d : x));
    });
  }

  private async attempt(fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.host.toast('error', errorMessage(err));
      return false;
    }
  }
}
