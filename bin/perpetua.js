#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci` / `npm install`).
import { main } from '../dist/main/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
