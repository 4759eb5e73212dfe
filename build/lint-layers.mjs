#!/usr/bin/env node
/**
 * Checks the import rules of .dependency-cruiser.cjs: `forbidden` on the sources (every import, types included),
 * `runtimeOnly` on tsc's output (what is left once type-only imports are erased). Prints one line per violation.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { cruise } from 'dependency-cruiser';

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, '..');

/** Violations (as "rule: from → to") of `rules` over `paths`, relative to `baseDir`. */
export async function cruiseRules(paths, rules, baseDir = root, config = require(join(root, '.dependency-cruiser.cjs'))) {
  const result = await cruise(paths, { ...config.options, baseDir, validate: true, ruleSet: { forbidden: rules } });
  const output = typeof result.output === 'string' ? JSON.parse(result.output) : result.output;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

/** Every violation in this checkout: sources first, then the compiled output. */
export async function lintLayers() {
  const config = require(join(root, '.dependency-cruiser.cjs'));
  const sources = await cruiseRules(['main', 'native-models', 'renderer/src', 'e2e'], config.forbidden, root, config);
  const out = mkdtempSync(join(tmpdir(), 'perpetua-layers-'));
  try {
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.json'), '--outDir', out, '--sourceMap', 'false'], { stdio: 'inherit' });
    const compiled = await cruiseRules(['main'], config.runtimeOnly, out, config);
    return [...sources, ...compiled.map((v) => v.replaceAll(`${relative(root, out)}/`, ''))];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  const violations = await lintLayers();
  for (const v of violations) console.error(v);
  console.log(violations.length ? `${violations.length} import(s) break the layers.` : 'The layers hold.');
  process.exitCode = violations.length ? 1 : 0;
}
