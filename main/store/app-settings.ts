import type { Db } from './database.js';
import { prepareTyped } from './typed-statements.js';
import { storedJson } from './rows.js';

/**
 * App-wide settings as key → JSON value. The store keeps what it is given; the core checks each value when it reads it
 * (a value written by another version, or by hand, that the current bounds refuse falls back to its default).
 */
export class AppSettings {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      all: prepareTyped<[], { key: string; value: string }>(db, 'SELECT key, value FROM app_settings'),
      get: prepareTyped<[string], { value: string }>(db, 'SELECT value FROM app_settings WHERE key = ?'),
      set: prepareTyped<[string, string], unknown>(db, 'INSERT INTO app_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      remove: prepareTyped<[string], unknown>(db, 'DELETE FROM app_settings WHERE key = ?'),
    };
  }

  /** Every stored setting. */
  all(): Record<string, unknown> {
    return Object.fromEntries(this.s.all.all().map((r) => [r.key, storedJson(r.value, 'setting') as unknown]));
  }

  get(key: string): unknown {
    const row = this.s.get.get(key);
    return row === undefined ? undefined : (storedJson(row.value, 'setting') as unknown);
  }

  /** Stores a value; `undefined` removes the setting (it takes its default again). */
  set(key: string, value: unknown): void {
    if (value === undefined) this.s.remove.run(key);
    else this.s.set.run(key, JSON.stringify(value));
  }
}
