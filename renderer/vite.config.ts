import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

// The renderer is loaded from file:// in Electron and from http://127.0.0.1 in the web test host:
// relative asset paths, no inline scripts or styles (CSP: script-src 'self'; style-src 'self').
export default defineConfig({
  root,
  base: './',
  plugins: [svelte({ configFile: false, compilerOptions: { runes: true } })],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    // ECharts (the A/B summary charts) is a ~520 kB chunk of its own, loaded only when the summary opens
    chunkSizeWarningLimit: 600,
  },
});
