/**
 * Builds the UI the e2e tests serve once, before any test file runs: test files run in parallel processes,
 * and each building into the same dist/renderer would empty it under another's running page.
 */
import { buildUi } from './build-ui.js';

export default async function setup(): Promise<void> {
  await buildUi();
}
