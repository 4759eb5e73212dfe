import type { Db } from './database.js';
import { InvalidNameError } from './errors.js';
import { isShowableName, toWellFormed } from './text.js';
import { prepareTyped } from './typed-statements.js';
import { storedJson } from './rows.js';

/** A named system prompt with generation settings, to start a chat from or apply to one. */
export interface Preset {
  id: number;
  name: string;
  systemPrompt: string;
  /** generation settings as stored (validated by the API layer when read) */
  generation: Record<string, unknown>;
  createdAt: number;
}

interface PresetRow { id: number; name: string; system_prompt: string; generation: string; created_at: number }

function toPreset(r: PresetRow): Preset {
  return { id: r.id, name: r.name, systemPrompt: r.system_prompt, generation: storedJson(r.generation, 'preset') as Record<string, unknown>, createdAt: r.created_at };
}

/** The user's presets, by name. Saving under a name that exists replaces that preset. */
export class Presets {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      list: prepareTyped<[], PresetRow>(db, 'SELECT * FROM presets ORDER BY name COLLATE NOCASE, id'),
      save: prepareTyped<[string, string, string, number], PresetRow>(db, `
        INSERT INTO presets (name, system_prompt, generation, created_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET system_prompt = excluded.system_prompt, generation = excluded.generation
        RETURNING *`),
      get: prepareTyped<[number], PresetRow>(db, 'SELECT * FROM presets WHERE id = ?'),
      remove: prepareTyped<[number], unknown>(db, 'DELETE FROM presets WHERE id = ?'),
    };
  }

  list(): Preset[] {
    return this.s.list.all().map(toPreset);
  }

  get(id: number): Preset | undefined {
    const row = this.s.get.get(id);
    return row && toPreset(row);
  }

  save(p: { name: string; systemPrompt: string; generation: Record<string, unknown> }): Preset {
    if (!isShowableName(p.name)) throw new InvalidNameError(p.name);
    return toPreset(this.s.save.get(toWellFormed(p.name.trim()), toWellFormed(p.systemPrompt), JSON.stringify(p.generation), Date.now())!);
  }

  /** False if it did not exist. */
  delete(id: number): boolean {
    return this.s.remove.run(id).changes > 0;
  }
}
