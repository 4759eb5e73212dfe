/**
 * Builds what the web host serves: the renderer (dist/renderer) and the window.perpetua shim
 * (dist/web-shim). e2e tests call this in beforeAll; `npx tsx e2e/build-ui.ts` does it by hand.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export async function buildUi(): Promise<void> {
  await build({ configFile: here('../renderer/vite.config.ts'), logLevel: 'warn' });
  await build({ configFile: here('./vite.shim.config.ts'), logLevel: 'warn' });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildUi();
}
