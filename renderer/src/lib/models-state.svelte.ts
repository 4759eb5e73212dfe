import type { CatalogItem, Channel, DownloadInfo, ExecutionProvider, ModelJobPacket, PerpetuaBridge } from './api.js';
import { progressOf, type Progress } from './progress.js';

/** What the model manager needs from the app: the toast line and a fresh model list. */
export interface ModelsHost {
  api: PerpetuaBridge;
  toast(kind: 'info' | 'error', text: string): void;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
  /** a message of the interface language (i18n) */
  t(key: string, options?: Record<string, unknown>): string;
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
  /** Catalog items whose download is being planned (the Hub asked for its files): shown at once, as "connecting". */
  starting = $state.raw<ReadonlySet<string>>(new Set());
  /** Why starting a catalog item's download failed (by item id), shown on the item until the next try. */
  startErrors = $state.raw<Readonly<Record<string, string>>>({});
  /** Why the last import failed, shown under the import field until the next try. */
  importError = $state<string | null>(null);
  busy = $state(false);
  /** A conversion in flight: bytes of weights converted of the total (0 of 0 until the first report). */
  converting = $state.raw<Progress | null>(null);
  convertPhase = $state<'convert' | 'hash'>('convert');
  private convertChannel: Channel<ModelJobPacket> | null = null;
  /** An import in flight: bytes of weights hashed of the total (0 of 0 while the model loads). */
  importing = $state.raw<Progress | null>(null);
  private importChannel: Channel<ModelJobPacket> | null = null;

  constructor(private readonly host: ModelsHost) {
    host.api.on('download', (d) => {
      const known = this.downloads.some((x) => x.id === d.id);
      this.downloads = known ? this.downloads.map((x) => (x.id === d.id ? d : x)) : [...this.downloads, d];
      if (d.state === 'done') {
        this.host.toast('info', this.host.t('models.downloaded', { repo: d.repo, variant: d.variant }));
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

  /**
   * Starts a catalog item's download. Planning asks the Hub first, which without a network takes its retries: the
   * item says it is connecting from the click on, and why it failed on the item itself (a toast may hide under it).
   */
  async download(item: CatalogItem): Promise<boolean> {
    if (this.starting.has(item.id)) return false;
    this.starting = new Set([...this.starting, item.id]);
    this.startErrors = Object.fromEntries(Object.entries(this.startErrors).filter(([id]) => id !== item.id));
    try {
      const d = await this.host.api.downloadsStart({ repo: item.repo, revision: item.revision, variant: item.variant });
      this.downloads = [...this.downloads.filter((x) => x.id !== d.id), d];
      return true;
    } catch (err) {
      this.startErrors = { ...this.startErrors, [item.id]: this.host.error(err) };
      return false;
    } finally {
      this.starting = new Set([...this.starting].filter((id) => id !== item.id));
    }
  }

  pause = (id: string) => this.update(() => this.host.api.downloadsPause({ id }));
  resume = (id: string) => this.update(() => this.host.api.downloadsResume({ id }));

  cancel(id: string): Promise<boolean> {
    return this.attempt(async () => {
      await this.host.api.downloadsCancel({ id });
      this.downloads = this.downloads.filter((d) => d.id !== id);
    });
  }

  /**
   * Imports a folder (progress in `importing` while its weights are hashed; `cancelImport` stores nothing); a
   * checkpoint that needs converting is remembered so the manager can offer it.
   */
  async importDir(dir: string): Promise<boolean> {
    this.convertible = null;
    this.importError = null;
    this.busy = true;
    this.importing = { done: 0, total: 0, etaSeconds: null };
    const channel = this.host.api.modelsAdd({ dir }, (p) => {
      if (p.type === 'progress') this.importing = progressOf(p);
    });
    this.importChannel = channel;
    try {
      const end = await channel.closed;
      if (end.type === 'done') {
        this.host.toast('info', this.host.t('models.imported', { name: end.model.name }));
        await this.host.loadModels();
      } else if (end.type === 'stopped') {
        this.host.toast('info', this.host.t('models.importCancelled'));
      } else if (end.type === 'failed') {
        if (end.error.code === 'needs_conversion') this.convertible = dir;
        this.importError = this.host.error(end.error);
      }
      return end.type === 'done';
    } catch (err) {
      this.importError = this.host.error(err);
      return false;
    } finally {
      this.importChannel = null;
      this.importing = null;
      this.busy = false;
    }
  }

  cancelImport(): void {
    this.importChannel?.cancel();
  }

  async pickAndImport(): Promise<void> {
    const dir = await this.host.api.pickFolder();
    if (dir) await this.importDir(dir);
  }

  /** Converts the offered checkpoint (progress in `converting`; `cancelConvert` leaves nothing behind) and imports it. */
  async convert(): Promise<void> {
    const dir = this.convertible;
    if (!dir || this.converting) return;
    this.busy = true;
    this.converting = { done: 0, total: 0, etaSeconds: null };
    this.convertPhase = 'convert';
    const channel = this.host.api.modelsConvert({ dir }, (p) => {
      if (p.type === 'progress') {
        this.converting = progressOf(p);
        this.convertPhase = p.phase;
      }
    });
    this.convertChannel = channel;
    await this.attempt(async () => {
      const end = await channel.closed;
      if (end.type === 'failed') throw new Error(end.error.message);
      if (end.type === 'stopped') {
        this.host.toast('info', this.host.t('models.convertCancelled'));
        return;
      }
      if (end.type === 'done') this.host.toast('info', this.host.t('models.converted', { name: end.model.name }));
      this.convertible = this.importError = null;
      await this.host.loadModels();
    });
    this.convertChannel = null;
    this.converting = null;
    this.busy = false;
  }

  cancelConvert(): void {
    this.convertChannel?.cancel();
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
      this.host.toast('error', this.host.error(err));
      return false;
    }
  }
}
