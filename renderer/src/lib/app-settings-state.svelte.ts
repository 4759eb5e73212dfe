import type { AppSettings, PerpetuaBridge, Preset, SnapshotUsage } from './api.js';
import { isLocale, type Locale } from '../i18n/locales.js';

export interface AppSettingsDeps {
  api: PerpetuaBridge;
  /** the interface language to show (a stored choice, or one made in the settings); null: the system's */
  showLocale(locale: Locale | null): void;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
}

/**
 * The app-wide settings (defaults for new chats, the provider new models run on, the language, the snapshot budget),
 * what the chats' snapshots take on disk, and the presets. The core checks every value; its sentence is shown beside
 * the form.
 */
export class AppSettingsState {
  settings = $state.raw<AppSettings | null>(null);
  usage = $state.raw<SnapshotUsage | null>(null);
  presets = $state.raw<Preset[]>([]);
  /** why the last change was refused (a sentence) */
  error = $state<string | null>(null);
  saving = $state(false);

  constructor(private readonly deps: AppSettingsDeps) {}

  /** Reads the settings and presets; a language chosen before is shown. */
  async load(): Promise<void> {
    await this.attempt(async () => {
      const [settings, presets] = await Promise.all([this.deps.api.settingsGet(), this.deps.api.presetsList()]);
      this.settings = settings;
      this.presets = presets;
      if (isLocale(settings.locale)) this.deps.showLocale(settings.locale);
    });
  }

  async loadUsage(): Promise<void> {
    await this.attempt(async () => {
      this.usage = await this.deps.api.snapshotsUsage();
    });
  }

  /** Stores the settings given; true when the core took them. A new snapshot budget shows its effect on the usage. */
  async save(change: Parameters<PerpetuaBridge['settingsSet']>[0]): Promise<boolean> {
    this.saving = true;
    try {
      return await this.attempt(async () => {
        this.settings = await this.deps.api.settingsSet(change);
        if (change.snapshotBudgetBytes !== undefined) this.usage = await this.deps.api.snapshotsUsage();
      });
    } finally {
      this.saving = false;
    }
  }

  /** Shows the language at once and keeps the choice with the other settings (null: the system's language). */
  async setLocale(locale: Locale | null): Promise<void> {
    this.deps.showLocale(locale);
    await this.save({ locale });
  }

  async savePreset(preset: Parameters<PerpetuaBridge['presetsSave']>[0]): Promise<Preset | null> {
    let saved: Preset | null = null;
    await this.attempt(async () => {
      saved = await this.deps.api.presetsSave(preset);
      this.presets = await this.deps.api.presetsList();
    });
    return saved;
  }

  async deletePreset(id: string): Promise<boolean> {
    return this.attempt(async () => {
      await this.deps.api.presetsDelete({ id });
      this.presets = this.presets.filter((p) => p.id !== id);
    });
  }

  private async attempt(fn: () => Promise<void>): Promise<boolean> {
    this.error = null;
    try {
      await fn();
      return true;
    } catch (err) {
      this.error = this.deps.error(err);
      return false;
    }
  }
}
