/**
 * The core the e2e tests drive: the real CoreService on a fresh SQLite file, with a generated tiny model
 * to import through the UI.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { testModelDir } from '../native-models/test-models.js';

export interface CoreUnderTest {
  api: PerpetuaApi;
  /** A model folder to import. */
  modelDir: string;
  close(): Promise<void>;
}

export async function startCoreUnderTest(): Promise<CoreUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-'));
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  const modelDir = testModelDir();
  let api: PerpetuaApi & { close?: () => unknown };
  if (process.env.PERPETUA_E2E_FAKE === '1') {
    // Temporary, for UI work before the core lands.
    const { FakeApi } = await import('./fake-api.js');
    api = new FakeApi({ tokenDelayMs: 5 });
  } else {
    const modulePath = '../main/core/core-service.js';
    const { CoreService } = (await import(modulePath)) as { CoreService: new (o: { dbFile: string; modelsDir: string }) => PerpetuaApi };
    api = new CoreService({ dbFile: join(dir, 'perpetua.db'), modelsDir });
  }
  return {
    api,
    modelDir,
    async close() {
      await api.close?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
