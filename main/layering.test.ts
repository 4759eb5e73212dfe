import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cruiseRules, lintLayers } from '../build/lint-layers.mjs';

const rules = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as { forbidden: unknown[]; runtimeOnly: unknown[] };

describe('the layers of DESIGN.md', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A throw-away tree of files (path → source). */
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'perpetua-layering-'));
    dirs.push(root);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  it('hold in this checkout (sources and compiled output)', async () => {
    expect(await lintLayers()).toEqual([]);
  });

  it('refuse an engine that imports the core, and a cycle', async () => {
    const root = tree({
      'main/engine/engine.ts': "import { core } from '../core/core.js';\nexport const engine = () => core;\n",
      'main/core/core.ts': "import { engine } from '../engine/engine.js';\nexport const core = 1;\nvoid engine;\n",
    });
    const found = await cruiseRules(['main'], rules.forbidden, root);
    expect(found).toContain('engine-is-the-bottom: main/engine/engine.ts → main/core/core.ts');
    expect(found.some((v) => v.startsWith('no-circular:'))).toBe(true);
  });

  it('refuse shared and policy importing other layers, and anything importing the CLI', async () => {
    const root = tree({
      'main/shared/errors.ts': "import { x } from '../policy/policy.js';\nexport const e = x;\n",
      'main/policy/policy.ts': "import { y } from '../store/store.js';\nexport const x = y;\n",
      'main/store/store.ts': "import { z } from '../cli/main.js';\nexport const y = z;\n",
      'main/cli/main.ts': 'export const z = 1;\n',
    });
    expect(await cruiseRules(['main'], rules.forbidden, root)).toEqual(
      expect.arrayContaining([
        'shared-imports-nothing: main/shared/errors.ts → main/policy/policy.ts',
        'policy-imports-shared-only: main/policy/policy.ts → main/store/store.ts',
        'store-is-plain-data: main/store/store.ts → main/cli/main.ts',
        'nothing-imports-cli: main/store/store.ts → main/cli/main.ts',
      ]),
    );
  });

  it('let the cache import the engine as types and its KV data, nothing that runs at run time', async () => {
    const root = tree({
      'main/cache/policy.js': "import { Engine } from '../engine/engine.js';\nimport { kvLength } from '../engine/layer-kv.js';\nexport { Engine, kvLength };\n",
      'main/engine/engine.js': 'export class Engine {}\n',
      'main/engine/layer-kv.js': 'export const kvLength = () => 0;\n',
    });
    expect(await cruiseRules(['main'], rules.runtimeOnly, root)).toEqual([
      'cache-imports-engine-types-only: main/cache/policy.js → main/engine/engine.js',
    ]);
  });
});
