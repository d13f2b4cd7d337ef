import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GENERATED_PAGES, regenerate } from '../scripts/docs.js';
import { ROOT, run } from './helpers.js';

const page = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const readme = page('README.md');

describe('the documentation', () => {
  it('has the config reference and policy rules generated from the schema and the pack (npm run docs)', () => {
    for (const path of Object.keys(GENERATED_PAGES)) expect(regenerate(path, page(path)), `${path}: run npm run docs`).toBe(page(path));
    expect(page('docs/config-reference.md')).toContain('| `services.limesurvey.hostname` |');
    expect(page('docs/policy-rules.md')).toContain('| Socle-NET1 | error |');
  });

  it('documents every field of the schema', async () => {
    const { citySchema } = await import('../stacks/config/load.js');
    const reference = page('docs/config-reference.md');
    for (const key of Object.keys(citySchema.properties).filter((k) => k !== '$schema')) expect(reference).toContain(`| \`${key}\` |`);
  });

  it('links only to files that exist', () => {
    for (const path of ['README.md', 'invitations/README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)]) {
      for (const [, target] of page(path).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        expect(existsSync(join(ROOT, dirname(path), target)), `${path} links to ${target}`).toBe(true);
      }
    }
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
