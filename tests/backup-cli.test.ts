// npm run backup: what it does with bad input, before reaching any engine (exit 2, nothing done),
// and with an engine that does not answer (exit 1, what to do next). The commands themselves run
// against a real engine in tests/engine/backup.test.ts.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { EXAMPLE, TSX, exampleCity, run, tempDir, writeCity } from './helpers.js';

const backup = (...args: string[]) => run(TSX, ['scripts/backup.ts', ...args]);

describe('npm run backup', () => {
  it('prints its usage with --help, naming every command', () => {
    const r = backup('--help');
    expect(r.status).toBe(0);
    for (const c of ['run', 'verify', 'list', 'check', 'status', 'restore', 'drill']) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(r.stdout).toMatch(/exit status: 0 ok, 1 [\s\S]*, 2 bad input/);
  });

  it.each([
    [[], /a command is required/],
    [['frobnicate', '--config', EXAMPLE], /unknown command "frobnicate"; commands: run, verify, list, check, status, restore, drill/],
    [['run'], /--config FILE is required/],
    [['restore', '--config', EXAMPLE], /restore needs --snapshot ID/],
    [['run', '--overwrite', '--config', EXAMPLE], /--overwrite applies to restore only/],
    [['status', '--max-age-hours', '0', '--config', EXAMPLE], /--max-age-hours must be a positive number of hours, got "0"/],
    [['check', '--read-data', '150', '--config', EXAMPLE], /--read-data must be a percentage between 1 and 100, got "150"/],
    [['run', '--config', EXAMPLE, '--colour'], /Unknown option '--colour'/],
    [['list', 'extra', '--config', EXAMPLE], /unexpected argument\(s\): extra/],
  ])('fails with exit 2 and the usage for %j', (args, message) => {
    const r = backup(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: npm run backup -- COMMAND --config FILE/);
  });

  it('fails with exit 2 naming the host when --host is not in the city file', () => {
    const r = backup('status', '--config', EXAMPLE, '--host', 'serveur-inconnu');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no host named "serveur-inconnu"; hosts: serveur-1/);
  });

  it('fails with exit 2 and the file:line of a bad city file', () => {
    const city = exampleCity();
    city.services.backup.maxAgeHours = 0;
    const r = backup('status', '--config', writeCity(city));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ville\.yaml:\d+:\d+ +services\.backup\.maxAgeHours/);
  });

  it('fails with exit 1 and what to check when the engine does not answer', () => {
    const r = backup('status', '--config', EXAMPLE, '--docker-host', `unix://${join(tempDir(), 'absent.sock')}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/serveur-1: the Docker engine at unix:\/\/\S+absent\.sock does not answer .*check SSH access for \S+, or pass --docker-host/);
  });

  it('refuses --docker-host for several hosts at once', () => {
    const r = backup('run', '--config', join(import.meta.dirname, '../examples/ville-exemple-multisite.yaml'), '--docker-host', 'unix:///var/run/docker.sock');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--docker-host reaches one engine: add --host NAME/);
  });
});
