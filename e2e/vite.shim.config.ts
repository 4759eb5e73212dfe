import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// Bundles the web host's window.perpetua shim (zod + api client) into one classic script.
export default defineConfig({
  build: {
    outDir: fileURLToPath(new URL('../dist/web-shim', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    minify: false,
    lib: {
      entry: fileURLToPath(new URL('./browser/ws-shim.ts', import.meta.url)),
      formats: ['iife'],
      name: 'PerpetuaShim',
      fileName: () => 'perpetua-ws-shim.js',
    },
  },
});
