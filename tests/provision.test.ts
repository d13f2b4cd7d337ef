// npm run provision: its steps as printed by --dry-run, bad input refused before anything runs,
// the judgements it makes of what hosts answer, and the inventory it writes. Provisioning real
// hosts, twice, is tests/engine/provision.test.ts.
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EXAMPLE, ROOT, TSX, exampleCity, run, tempDir, writeCity } from './helpers.js';
import { loadCity } from '../stacks/config/load.js';
import { PROVISION_STEPS, driftOf, hostProblems, inventoryFor, parseFacts, planSummaries, startingContainers, unhealthyContainers } from '../scripts/lib/provision.js';

const provision = (args: string[]) => run(TSX, ['scripts/provision.ts', ...args]);
/** A backup key pair as --backup-key takes it (the dry run only checks that both files exist). */
function backupKey(): string {
  const key = join(tempDir(), 'sauvegarde_ed25519');
  writeFileSync(key, 'not read by a dry run\n');
  writeFileSync(`${key}.pub`, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBackupRunnerKeyForTheTest runner\n');
  return key;
}

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
    const key = backupKey();
    const r = provision(['--config', EXAMPLE, '--dry-run', '--logs', logs, '--backup-key', key]);
    expect(r.status, r.stderr).toBe(0);
    expect([...r.stdout.matchAll(/^\[(\d)\/8\] (\w+):/gm)].map((m) => m[2])).toEqual([...PROVISION_STEPS]);
    expect(r.stdout).toContain(`ansible-playbook -i ${logs}/ville-exemple-inventory.yml ${ROOT}/ansible/site.yml`);
    // Facts are read as the first administrator; containers are looked at as the deploying user.
    expect(r.stdout).toContain('ssh -p 22 jdupont@10.20.0.10 sh -c');
    expect(r.stdout).toContain('ssh -p 22 socle@10.20.0.10 docker ps');
    expect(r.stdout).toContain(`npm run --silent deploy -- --config ${EXAMPLE} --stack ville-exemple-serveur-1 --backup-key ${key} --apply`);
    expect(r.stdout).toContain(`curl --silent --show-error --output /dev/null --write-out '%{http_code}' --max-time 20 --noproxy '*' --resolve participer.ville-exemple.fr:443:10.20.0.10 https://participer.ville-exemple.fr/`);
    expect(r.stdout).toContain('(the plan is shown and must be confirmed before apply)');
    // The images the stacks reference: Socle's own built and pushed, the mirrored one only checked.
    expect(r.stdout).toContain(`npm run --silent build-images -- --config ${EXAMPLE} --push --only backup --only limesurvey --only mariadb --only matomo --only nginx --only postgres --only redis --only tor`);
    expect(r.stdout).toContain('docker manifest inspect registre.ville-exemple.fr/socle/decidim:0.32.1');
    expect(r.stdout).toContain(`npm run --silent audit -- --config ${EXAMPLE} --out ${logs}/ville-exemple-audit`);
    expect(existsSync(logs)).toBe(false);
  });

  it('--from starts at that step; --yes drops the confirmation', () => {
    const r = provision(['--config', EXAMPLE, '--dry-run', '--from', 'apply', '--yes', '--backup-key', backupKey()]);
    expect(r.status, r.stderr).toBe(0);
    expect([...r.stdout.matchAll(/^\[(\d)\/8\] (\w+):/gm)].map((m) => `${m[1]} ${m[2]}`)).toEqual(['6 apply', '7 smoke', '8 audit']);
    expect(r.stdout).not.toContain('must be confirmed');
  });

  it.each([
    [[], /--config FILE\|DIR is required/],
    [['--config', EXAMPLE, '--from', 'deploy'], /--from must be one of validate, facts, hosts, images, plan, apply, smoke, audit; got "deploy"/],
    [['--config', EXAMPLE, '--host', 'serveur-9'], /ville-exemple\.yaml: no host "serveur-9" under hosts, nor a backup target with prepare: true \(serveur-1\): give one of those to --host/],
    [['--config', EXAMPLE], /ville-exemple\.yaml backs up \(services\.backup\): give the runners' key with --backup-key FILE.*\n  fix: ssh-keygen -t ed25519/],
    [['--config', EXAMPLE, '--backup-key', '/nonexistent/cle'], /--backup-key \/nonexistent\/cle: \/nonexistent\/cle\.pub does not exist/],
    [['--config', EXAMPLE, '--colour'], /Unknown option '--colour'/],
  ])('refuses %j with exit 2, before reaching any host', (args, message) => {
    const logs = join(tempDir(), 'journaux');
    const r = provision([...args, '--logs', logs]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(logs)).toBe(false);
  });

  it('refuses a city file without a hosting section, saying what to add', () => {
    const city = exampleCity();
    delete (city as { hosting?: unknown }).hosting;
    const logs = join(tempDir(), 'journaux');
    const r = provision(['--config', writeCity(city), '--logs', logs, '--backup-key', backupKey(), '--dry-run']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no hosting section: provisioning needs to know who administers the hosts.*\n  fix: add hosting: \{ adminNetworks/);
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
  const fit = 'debian=12.8\ndisk_kib=52428800\nmemory_kib=8152000\nntp=yes\ncontainer=none\n';

  it('accepts a Debian 12 host with the disk, memory and synchronized clock it needs', () => {
    expect(parseFacts(fit)).toEqual({ debian: '12.8', freeDiskGiB: 50, memoryMiB: 7960, timeSynchronized: true, container: '' });
    expect(hostProblems('serveur-1', parseFacts(fit))).toEqual([]);
    // In a container (LXC, say) the clock is the machine's own: not the container's to synchronize.
    expect(hostProblems('serveur-1', parseFacts(fit.replace('ntp=yes', 'ntp=no').replace('container=none', 'container=lxc')))).toEqual([]);
    // The front host of a city bringing its own certificate: it must be there before the proxy runs.
    expect(hostProblems('serveur-1', parseFacts(`${fit}tls=yes\n`), '/etc/socle/tls/v')).toEqual([]);
    expect(hostProblems('serveur-1', parseFacts(`${fit}tls=no\n`), '/etc/socle/tls/v')).toEqual([expect.stringMatching(/^serveur-1: no certificate in \/etc\/socle\/tls\/v \(fullchain\.pem and privkey\.pem, tls\.files\.directory\).*put the city's certificate and key there/)]);
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

  it('writes an Ansible inventory of the city file\'s hosts, or of one, with every role\'s variables', () => {
    const city = loadCity(EXAMPLE);
    const flows = new Map([['serveur-1', { docker_host__egress_communes: [{ flows: [{ to: '10.20.0.25', port: 587, protocol: 'tcp', reason: 'relay' }] }] }]]);
    const inventory = parse(inventoryFor(city, flows));
    expect(Object.keys(inventory.socle_hosts.hosts)).toEqual(city.hosts.map((h) => h.name));
    const host = inventory.socle_hosts.hosts['serveur-1'];
    // Ansible connects as the first administrator; the deploying user is what it creates.
    expect(host).toMatchObject({ ansible_host: '10.20.0.10', ansible_port: 22, ansible_user: 'jdupont', docker_host__deploy_user: 'socle', host_firewall__admin_networks: ['10.20.0.0/24'], base_host__ntp_servers: ['10.20.0.123'] });
    expect(host.docker_host__egress_communes).toEqual(flows.get('serveur-1')!.docker_host__egress_communes);
    // The one host is the front: citizens reach its proxy's ports, from anywhere.
    expect(host.host_firewall__inbound.map((r: any) => `${r.from} ${r.port}`)).toEqual(['0.0.0.0/0 80', '0.0.0.0/0 443']);
    expect(host.host_firewall__outbound.map((r: any) => `${r.to} ${r.protocol}/${r.port}`)).toEqual(['10.20.0.53 udp/53', '10.20.0.53 tcp/53', '10.20.0.123 udp/123', 'deb.debian.org tcp/80', 'security.debian.org tcp/80', 'registre.ville-exemple.fr tcp/443']);
    expect(inventory.socle_backup_storage.hosts).toEqual({});
    expect(Object.keys(parse(inventoryFor(city, flows, { only: 'serveur-1' })).socle_hosts.hosts)).toEqual(['serveur-1']);
  });

  it('prepares a storage host, which accepts SFTP from the host whose runner writes there, and nothing more', () => {
    const raw = exampleCity();
    const yaml = raw as any;
    yaml.hosts.push({ name: 'serveur-2', ssh: { user: 'socle', address: '10.20.0.11' }, site: 'Hôtel de ville', owner: 'Commune de Ville-Exemple' });
    for (const name of ['proxy', 'consultation', 'limesurvey', 'matomo', 'onion']) yaml.services[name] = { ...yaml.services[name], host: 'serveur-1' };
    yaml.services.backup.targets = [{ name: 'stockage', host: '10.20.0.30', user: 'restic', path: '/srv/restic/ville-exemple', site: 'Centre technique', prepare: true }];
    const city = loadCity(writeCity(yaml));
    const flows = new Map([
      ['serveur-1', { docker_host__egress_communes: [{ flows: [{ to: '10.20.0.30', port: 22, protocol: 'tcp', reason: 'backups' }, { to: '10.20.0.11', port: 8080, protocol: 'tcp', reason: 'upstream' }] }] }],
      ['serveur-2', { docker_host__egress_communes: [{ flows: [] }] }],
    ]);
    const inventory = parse(inventoryFor(city, flows, { backupPublicKey: 'ssh-ed25519 AAAAkey runner\n' }));
    expect(inventory.socle_backup_storage.hosts.stockage).toMatchObject({
      ansible_host: '10.20.0.30', ansible_user: 'jdupont',
      backup_storage__repositories: [{ user: 'restic', path: '/srv/restic/ville-exemple', authorized_keys: ['ssh-ed25519 AAAAkey runner'] }],
      host_firewall__inbound: [{ from: '10.20.0.10', port: 22, protocol: 'tcp', reason: 'from serveur-1: backups' }],
    });
    // A storage host runs no Docker: it has no registry to reach.
    expect(inventory.socle_backup_storage.hosts.stockage.host_firewall__outbound.some((r: any) => r.to === 'registre.ville-exemple.fr')).toBe(false);
    expect(inventory.socle_hosts.hosts['serveur-2'].host_firewall__inbound).toEqual([{ from: '10.20.0.10', port: 8080, protocol: 'tcp', reason: 'from serveur-1: upstream' }]);
    // Without a deploy key of its own, the deploying user accepts the first administrator's.
    expect(inventory.socle_hosts.hosts['serveur-2'].docker_host__deploy_authorized_keys).toEqual(city.hosting!.admins[0].keys);
  });

  it('authorizes, for the deploying user of each host, the key the deploy logs in there with', () => {
    const yaml = exampleCity() as any;
    const dir = tempDir();
    for (const [name, key] of [['cle-1', 'ssh-ed25519 AAAAone deploy-1'], ['cle-2', 'ssh-ed25519 AAAAtwo deploy-2']]) {
      writeFileSync(join(dir, name), 'private\n');
      writeFileSync(join(dir, `${name}.pub`), `${key}\n`);
    }
    yaml.hosts[0].ssh.identityFile = join(dir, 'cle-1');
    yaml.hosts.push({ name: 'serveur-2', ssh: { user: 'socle', address: '10.20.0.11', identityFile: join(dir, 'cle-2') }, site: 'Hôtel de ville', owner: 'Commune de Ville-Exemple' });
    for (const name of ['proxy', 'consultation', 'limesurvey', 'matomo', 'onion']) yaml.services[name] = { ...yaml.services[name], host: 'serveur-1' };
    const hosts = parse(inventoryFor(loadCity(writeCity(yaml)), new Map())).socle_hosts.hosts;
    expect(hosts['serveur-1'].docker_host__deploy_authorized_keys).toEqual(['ssh-ed25519 AAAAone deploy-1']);
    expect(hosts['serveur-2'].docker_host__deploy_authorized_keys).toEqual(['ssh-ed25519 AAAAtwo deploy-2']);
  });

  it('reads each stack\'s plan line from the deploy, and calls drift a plan that changes a stack nobody changed', () => {
    const deploy = [
      'deploy: [1/2] ville-x-front (tofu, host front)', 'deploy:   TF_VAR_x <- env X', 'deploy:   plan: no changes: the host already matches the stack',
      'deploy: [2/2] ville-x-apps (tofu, host apps)', 'deploy:   plan: 1 to create, 0 to update in place, 0 to delete', 'deploy:     create docker_container.web (ville-x-web)', '',
    ].join('\n');
    const plans = planSummaries(deploy);
    expect([...plans]).toEqual([['ville-x-front', 'no changes: the host already matches the stack'], ['ville-x-apps', '1 to create, 0 to update in place, 0 to delete']]);
    // Same stack as last applied, yet changes: drift. A new stack (another digest), or no changes: none.
    expect(driftOf('ville-x-apps', plans.get('ville-x-apps'), 'abc', 'abc')).toMatch(/^ville-x-apps: DRIFT: the city file asks for nothing new since the last provision, yet the plan says 1 to create/);
    expect(driftOf('ville-x-apps', plans.get('ville-x-apps'), 'abc', 'def')).toBeUndefined();
    expect(driftOf('ville-x-apps', plans.get('ville-x-apps'), undefined, 'def')).toBeUndefined();
    expect(driftOf('ville-x-front', plans.get('ville-x-front'), 'abc', 'abc')).toBeUndefined();
  });

  it('tells running healthy containers from the others', () => {
    const ps = ['a\tUp 3 minutes (healthy)', 'b\tUp 2 minutes', 'c\tUp 10 seconds (health: starting)', 'd\tExited (1) 5 seconds ago', 'e\tUp 1 minute (unhealthy)', ''].join('\n');
    expect(unhealthyContainers(ps).map((l) => l.split('\t')[0])).toEqual(['c', 'd', 'e']);
    // Started: every container past its first healthcheck, healthy or not (the backup dumps them first).
    expect(startingContainers(ps + 'f\tCreated\n').map((l) => l.split('\t')[0])).toEqual(['c', 'f']);
  });
});
