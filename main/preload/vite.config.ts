import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// Sandboxed preloads can only require('electron'): bundle the API client and zod into one CJS file.
export default defineConfig({
  build: {
    outDir: fileURLToPath(new URL('../../dist/preload', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    minify: false,
    sourcemap: true,
    lib: {
      entry: fileURLToPath(new URL('./preload.ts', import.meta.url)),
      formats: ['cjs'],
      fileName: () => 'preload.cjs',
    },
    rollupOptions: { external: ['electron'] },
  },
});
