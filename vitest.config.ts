import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'services/**/*.test.ts', 'stacks/**/*.test.ts'],
    // A Docker engine and Socle's images, for tests/engine: installed, started and built once.
    globalSetup: ['tests/engine/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file synthesizes whole apps: two workers match the two cores of the reference machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
