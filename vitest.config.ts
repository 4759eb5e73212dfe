import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['main/**/*.test.ts', 'native-models/**/*.test.ts', 'e2e/**/*.test.ts', 'build/**/*.test.ts', 'renderer/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['e2e/global-setup.ts'],
    // weight hashes of test models are cached here, not in the user's cache folder
    env: { PERPETUA_CACHE_DIR: join(tmpdir(), 'perpetua-test-cache') },
  },
});
