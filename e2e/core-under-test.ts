/**
 * The core the e2e tests drive: the real CoreService on a fresh SQLite file, with a generated tiny model
 * to import through the UI.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { CoreService } from '../main/core/core-service.js';
import { testModelDir } from '../native-models/test-models.js';
import { builtinModelDir } from '../main/models/builtin-model.js';

export interface CoreUnderTest {
  api: PerpetuaApi;
  /** A model folder to import. */
  modelDir: string;
  /** The core's SQLite file (tests may seed it through the Store). */
  dbFile: string;
  close(): Promise<void>;
}

/**
 * `paceTokensMs` delivers token packets no faster than one per that many milliseconds, in order with every other
 * packet. The generated model writes a whole answer within a frame or two on a fast machine; a test of how the UI
 * draws a stream needs the pace of a real model. Only delivery is paced: the core generates as it always does.
 */
export async function startCoreUnderTest(opts: { paceTokensMs?: number; maxAnswerTokens?: number } = {}): Promise<CoreUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-'));
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  // Screenshots show the built-in model, which writes words; the tests' own runs use the generated model.
  const modelDir =
    process.env.PERPETUA_E2E_MODEL ??
    (process.env.PERPETUA_SCREENSHOTS === '1' && existsSync(builtinModelDir()) ? builtinModelDir() : testModelDir());
  const dbFile = join(dir, 'perpetua.db');
  const core = new CoreService({ dbFile, modelsDir, maxAnswerTokens: opts.maxAnswerTokens });
  const api = opts.paceTokensMs ? pacedTokens(core, opts.paceTokensMs) : core;
  return {
    api,
    modelDir,
    dbFile,
    async close() {
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pacedTokens(api: PerpetuaApi, ms: number): PerpetuaApi {
  async function* paced<P extends { type: string }>(packets: AsyncIterable<P>): AsyncGenerator<P> {
    for await (const p of packets) {
      if (p.type === 'token') await delay(ms);
      yield p;
    }
  }
  const channels = new Set<PropertyKey>(['chatSend', 'chatRegenerate', 'chatEdit', 'abStart']);
  return new Proxy(api, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      if (channels.has(key)) return (params: unknown, signal: AbortSignal) => paced(value.call(target, params, signal));
      return value.bind(target);
    },
  });
}
