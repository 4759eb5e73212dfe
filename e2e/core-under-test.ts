/**
 * The core the e2e tests drive: the real CoreService on a fresh SQLite file, with a generated tiny model
 * to import through the UI.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { CoreService } from '../main/core/core-service.js';
import { FIXTURES, fixtureAvailable, testModelDir } from '../native-models/test-models.js';

export interface CoreUnderTest {
  api: PerpetuaApi;
  /** A model folder to import. */
  modelDir: string;
  /** The core's SQLite file (tests may seed it through the Store). */
  dbFile: string;
  close(): Promise<void>;
}

export async function startCoreUnderTest(): Promise<CoreUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-'));
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  // Screenshots read better with a model that writes words (the TinyStories fixture, when present).
  const modelDir =
    process.env.PERPETUA_E2E_MODEL ??
    (process.env.PERPETUA_SCREENSHOTS === '1' && fixtureAvailable(FIXTURES.tinystories) ? FIXTURES.tinystories : testModelDir());
  const dbFile = join(dir, 'perpetua.db');
  const api = new CoreService({ dbFile, modelsDir });
  return {
    api,
    modelDir,
    dbFile,
    async close() {
      await api.close?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
