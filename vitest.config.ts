import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing but Node (seconds), `engine` brings up a Docker engine, the
// deploy tools and Socle's images once (global setup) and deploys real stacks. `npm test` runs both.
export default defineConfig({
  test: {
    // Each file synthesizes whole apps: two workers match the two cores of the reference machine.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/**/*.test.ts', 'services/**/*.test.ts', 'stacks/**/*.test.ts', 'invitations/**/*.test.ts'],
          exclude: ['tests/engine/**', '**/node_modules/**'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'engine',
          include: ['tests/engine/**/*.test.ts'],
          // A Docker engine, the deploy tools and Socle's images: installed, started and built once.
          globalSetup: ['tests/engine/global-setup.ts'],
          testTimeout: 120_000,
          // A stack's teardown (tofu destroy) under the other worker's load can take minutes.
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
