// npm run provision: its steps as printed by --dry-run, bad input refused before anything runs,
// and the judgements it makes of what hosts answer. Provisioning real hosts is not tested yet (see
// docs/limits.md): the steps it chains are each tested by their own command's tests.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EXAMPLE, ROOT, TSX, exampleCity, run, tempDir, writeCity } from './helpers.js';
import { loadCity } from '../stacks/config/load.js';
import { PROVISION_STEPS, hostProblems, inventoryFor, parseFacts, unhealthyContainers } from '../scripts/lib/provision.js';

const provision = (args: string[]) => run(TSX, ['scripts/provision.ts', ...args]);

describe('npm run provision', () => {
  it('prints its usage with --help, naming every step in order', () => {
    const r = provision(['--help']);
    expect(r.status).toBe(0);
    const listed = [...r.stdout.matchAll(/^ +\d+\. (\w+) /gm)].map((m) => m[1]);
    expect(listed).toEqual([...PROVISION_STEPS]);
    expect(r.stdout).toMatch(/exit status: 0 provisioned, 1 a step failed .*, 2 bad input/);
  });

  it('--dry-run prints every step and command and touches nothing', () => {
    const logs = join(tempDir(), 'journaux');
    const r = provision(['--config', EXAMPLE, '--dry-run', '--logs', logs]);
    expect(r.status, r.stderr).toBe(0);
    expect([...r.stdout.matchAll(/^\[(\d)\/8\] (\w+):/gm)].map((m) => m[2])).toEqual([...PROVISION_STEPS]);
    expect(r.stdout).toContain(`ansible-playbook -i ${logs}/ville-exemple-inventory.yml ${ROOT}/ansible/site.yml`);
    expect(r.stdout).toContain('ssh -p 22 socle@10.20.0.10 sh -c');
    expect(r.stdout).toContain(`npm run --silent deploy -- --config ${EXAMPLE} --stack ville-exemple-serveur-1 --apply`);
    expect(r.stdout).toContain('(the plan is shown and must be confirmed before apply)');
    expect(r.stdout).toContain(`npm run --silent audit -- --config ${EXAMPLE} --out ${logs}/ville-exemple-audit`);
    expect(existsSync(logs)).toBe(false);
  });

  it('--from starts at that step; --yes drops the confirmation', () => {
    const r = provision(['--config', EXAMPLE, '--dry-run', '--from', 'apply', '--yes']);
    expect(r.status, r.stderr).toBe(0);
    expect([...r.stdout.matchAll(/^\[(\d)\/8\] (\w+):/gm)].map((m) => `${m[1]} ${m[2]}`)).toEqual(['6 apply', '7 smoke', '8 audit']);
    expect(r.stdout).not.toContain('must be confirmed');
  });

  it.each([
    [[], /--config FILE\|DIR is required/],
    [['--config', EXAMPLE, '--from', 'deploy'], /--from must be one of validate, facts, hosts, images, plan, apply, smoke, audit; got "deploy"/],
    [['--config', EXAMPLE, '--host', 'serveur-9'], /ville-exemple\.yaml: no host "serveur-9" under hosts \(serveur-1\): give one of those to --host/],
    [['--config', EXAMPLE, '--colour'], /Unknown option '--colour'/],
  ])('refuses %j with exit 2, before reaching any host', (args, message) => {
    const logs = join(tempDir(), 'journaux');
    const r = provision([...args, '--logs', logs]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(logs)).toBe(false);
  });

  it('refuses a city file with an error, naming the file, the line and the field, exit 2', () => {
    const city = exampleCity();
    (city.hosts[0] as { ssh: { port: unknown } }).ssh.port = 'vingt-deux';
    const logs = join(tempDir(), 'journaux');
    const r = provision(['--config', writeCity(city), '--logs', logs]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/city\.yaml:\d+.*hosts\[0\]\.ssh\.port|hosts\.0\.ssh\.port/);
    expect(existsSync(logs)).toBe(false);
  });
});

describe('what provisioning judges of a host', () => {
  const fit = 'debian=12.8\ndisk_kib=52428800\nmemory_kib=8152000\nntp=yes\n';

  it('accepts a Debian 12 host with the disk, memory and synchronized clock it needs', () => {
    expect(parseFacts(fit)).toEqual({ debian: '12.8', freeDiskGiB: 50, memoryMiB: 7960, timeSynchronized: true });
    expect(hostProblems('serveur-1', parseFacts(fit))).toEqual([]);
  });

  it('names each problem with its fix: not Debian, too old, small disk, little memory, clock not synchronized', () => {
    expect(hostProblems('h', parseFacts('debian=\ndisk_kib=52428800\nmemory_kib=8152000\nntp=yes'))).toEqual([expect.stringMatching(/^h: not a Debian host .*install Debian 12 or later/)]);
    const problems = hostProblems('h', parseFacts('debian=11.9\ndisk_kib=1048576\nmemory_kib=1024000\nntp=no'));
    expect(problems).toEqual([
      expect.stringMatching(/Debian 11\.9, Socle needs 12 or later: upgrade the host first/),
      expect.stringMatching(/1 GiB free under \/var\/lib, at least 10 needed/),
      expect.stringMatching(/1000 MiB of memory, at least 2048 needed/),
      expect.stringMatching(/the clock is not synchronized .*city's NTP server/),
    ]);
  });

  it('writes an Ansible inventory of the city file\'s hosts, or of one', () => {
    const city = loadCity(EXAMPLE);
    const inventory = parse(inventoryFor(city));
    expect(Object.keys(inventory.socle_hosts.hosts)).toEqual(city.hosts.map((h) => h.name));
    expect(inventory.socle_hosts.hosts['serveur-1']).toMatchObject({ ansible_host: '10.20.0.10', ansible_port: 22, ansible_user: 'socle' });
    expect(Object.keys(parse(inventoryFor(city, 'serveur-1')).socle_hosts.hosts)).toEqual(['serveur-1']);
  });

  it('tells running healthy containers from the others', () => {
    const ps = ['a\tUp 3 minutes (healthy)', 'b\tUp 2 minutes', 'c\tUp 10 seconds (health: starting)', 'd\tExited (1) 5 seconds ago', 'e\tUp 1 minute (unhealthy)', ''].join('\n');
    expect(unhealthyContainers(ps).map((l) => l.split('\t')[0])).toEqual(['c', 'd', 'e']);
  });
});
