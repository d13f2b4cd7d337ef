// npm run audience: its usage, and what it does with bad input before reaching Matomo (exit 2 with
// the fix). The report against a real Matomo is exercised by tests/engine/matomo.test.ts.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLE, TSX, exampleCity, run, tempDir, writeCity } from './helpers.js';

const audience = (args: string[]) => run(TSX, ['scripts/audience.ts', ...args]);

describe('npm run audience', () => {
  it('prints its usage with --help', () => {
    for (const args of [['--help'], ['report', '--help']]) {
      const r = audience(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: npm run audience -- report --config FILE/);
      expect(r.stdout).toMatch(/exit status: 0 ok, 1 .*, 2 bad input/);
    }
  });

  it.each([
    [[], /a command is required: report/],
    [['frobnicate'], /unknown command "frobnicate"; commands: report/],
    [['report'], /--config is required/],
    [['report', '--config', EXAMPLE, '--colour'], /Unknown option '--colour'/],
  ])('refuses %j with its usage, exit 2', (args, message) => {
    const r = audience(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: npm run audience/);
  });

  it.each([
    [['--from', '2026-13-01'], /--from 2026-13-01: not a day; give it as YYYY-MM-DD/],
    [['--to', '2026-02-30'], /--to 2026-02-30: not a day/],
    [['--from', '2026-11-10', '--to', '2026-11-01'], /--from 2026-11-10 is after --to 2026-11-01: give the earlier day first/],
    [['--format', 'xml'], /--format xml: use one of text, csv, json/],
  ])('refuses %j before connecting, exit 2', (args, message) => {
    const r = audience(['report', '--config', EXAMPLE, ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/reading Matomo/);
  });

  it('says so when the city measures no audience', () => {
    const city = exampleCity();
    city.services.matomo.enabled = false;
    const r = audience(['report', '--config', writeCity(city)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/services\.matomo\.enabled is false: this city measures no audience/);
  });

  it('never overwrites --out', () => {
    const out = join(tempDir(), 'rapport.txt');
    writeFileSync(out, 'déjà là');
    const r = audience(['report', '--config', EXAMPLE, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out .*rapport\.txt exists: it is never overwritten/);
    expect(r.stderr).not.toMatch(/reading Matomo/);
  });
});
