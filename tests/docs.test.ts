import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { regenerate } from '../scripts/docs.js';
import { ROOT, run } from './helpers.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('README', () => {
  it('has the config reference and policy rules generated from the schema and the pack (npm run docs)', () => {
    expect(regenerate(readme)).toBe(readme);
    expect(readme).toContain('| `services.limesurvey.hostname` |');
    expect(readme).toContain('| Socle-NET1 | error |');
  });

  it('documents every field of the schema', async () => {
    const { citySchema } = await import('../stacks/config/load.js');
    for (const key of Object.keys(citySchema.properties).filter((k) => k !== '$schema')) expect(readme).toContain(`| \`${key}\` |`);
  });

  it('gives the test command CI runs', () => {
    const testCommand = /^npm ci && npm test\b/m;
    expect(readme).toMatch(testCommand);
    expect(readFileSync(join(ROOT, '.ci/run'), 'utf8')).toMatch(testCommand);
  });
});

describe('the code', () => {
  it('type-checks (strict, no unused locals)', () => {
    const r = run(join(ROOT, 'node_modules/.bin/tsc'), ['--noEmit', '-p', join(ROOT, 'tsconfig.json')]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
