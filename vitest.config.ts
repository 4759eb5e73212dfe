import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['main/**/*.test.ts', 'native-models/**/*.test.ts', 'e2e/**/*.test.ts', 'build/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['e2e/global-setup.ts'],
  },
});
