#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci` / `npm install`).
import { fileURLToPath } from 'node:url';
import { adoptParentTerminal, runWithoutDawnWarnings } from '../dist/main/cli/dawn-stderr.js';

const args = process.argv.slice(2);
const filtered = await runWithoutDawnWarnings(fileURLToPath(import.meta.url), args);
if (filtered !== null) {
  process.exitCode = filtered;
} else {
  adoptParentTerminal();
  const { main } = await import('../dist/main/cli/main.js');
  process.exitCode = await main(args);
}
