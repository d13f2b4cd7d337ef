// npm run provision, for real: three fresh Debian servers (systemd, sshd, an administrator account,
// nothing configured: tests/engine/debian-hosts.ts) taken by one command to a stack that serves,
// is backed up and passes the static audit. Ansible applies every role over SSH, OpenTofu deploys
// into each host's own Docker engine over ssh://, the backup runner writes to the SFTP store the
// role backup_storage made. Then a second run changes nothing, the firewall is proven from inside
// the hosts, and a change made by hand on a host is reported as drift and put back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { $ } from 'zx';
import { ROOT, TSX, tempDir } from '../helpers.js';
import { HOSTS_REGISTRY, PROVISION_HOSTS, connectFromStranger, installConsultation, prepareProvisionCity, removeDebianHosts, type DebianHosts } from './debian-hosts.js';
import { TEST_SECRETS } from './test-city.js';
import { OUTSIDE, outsideConnections } from './test-host.js';

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });
const HOST_NAMES = PROVISION_HOSTS;

let hosts: DebianHosts;
let cityFile: string;
let backupKey: string;
/** The deploy's output for this suite's runs (--out): its stacks and OpenTofu working directories. */
const OUTDIR = join(tempDir('socle-provision-out-'), 'cdktf.out');
const container = (name: (typeof HOST_NAMES)[number]) => hosts.hosts.find((h) => h.name === name)!.container;
/** A command on a test host, as root (docker exec: the test's own view, not the city's). */
const onHost = (name: (typeof HOST_NAMES)[number], command: string) => qn`docker exec ${container(name)} sh -c ${command}`;

/** npm run provision on the test city, with its secrets; the output is kept for the assertions. */
async function provision(args: readonly string[]): Promise<{ code: number; out: string }> {
  const logs = join(tempDir('socle-provision-logs-'), 'journaux');
  const r = await $({ quiet: true, nothrow: true, env: { ...process.env, ...TEST_SECRETS }, timeout: '25m' })`${TSX} ${join(ROOT, 'scripts/provision.ts')} --config ${cityFile} --backup-key ${backupKey} --out ${OUTDIR} --yes --logs ${logs} ${args}`;
  const out = r.stdout + r.stderr;
  process.stderr.write(out.split('\n').filter((l) => /^provision: /.test(l)).join('\n') + '\n');
  return { code: r.exitCode ?? -1, out };
}

beforeAll(async () => {
  ({ hosts, cityFile, backupKey } = await prepareProvisionCity());
}, 300_000);

afterAll(async () => {
  if (process.env.SOCLE_KEEP_TEST_HOSTS) return;
  await removeDebianHosts();
});

describe('npm run provision, three fresh Debian hosts to a served, backed-up, audited city', () => {
  it('takes them to a deployed stack with one command, and stops at the first failure saying what to do and how to resume', async () => {
    const first = await provision([]);
    expect(first.code, first.out.slice(-6000)).toBe(1);
    const done = [...first.out.matchAll(/^provision: \[(\d)\/8\] (\w+) done in ([\d.]+) s$/gm)].map((m) => m[2]);
    expect(done).toEqual(['validate', 'facts', 'hosts', 'images', 'plan', 'apply']);
    // Every container started, HTTPS through the front host's firewall with the city's certificate;
    // then the backup refuses an app that was never installed, and says so.
    expect(first.out).toMatch(/provision: {3}https:\/\/participer\.ville-prov\.fr\/: 200/);
    expect(first.out).toMatch(/step smoke failed for ville-prov: .*consultation-postgres\.sql holds no table: the database is empty.*finish the app's installation/);
    expect(first.out).toMatch(new RegExp(`fix it, then resume there: npm run provision -- --config ${cityFile} --backup-key ${backupKey} --out ${OUTDIR} --yes --from smoke`));
  }, 1_500_000);

  it('resumes there once the cause is fixed: a backup recorded, the audit passed', async () => {
    await installConsultation(hosts);
    const resumed = await provision(['--from', 'smoke']);
    expect(resumed.code, resumed.out.slice(-6000)).toBe(0);
    expect([...resumed.out.matchAll(/^provision: \[(\d)\/8\] (\w+) done in/gm)].map((m) => m[2])).toEqual(['smoke', 'audit']);
    expect(resumed.out).toMatch(/provision: {3}front: 5 containers healthy/);
    expect(resumed.out).toMatch(/provision: {3}apps: 7 containers healthy/);
    expect(resumed.out).toMatch(/ville-prov provisioned/);
  }, 600_000);

  it('leaves each host as the roles say: admins by key only, no root login, the city\'s time and mirrors, a bounded journal', async () => {
    for (const name of HOST_NAMES) {
      const sshd = (await onHost(name, 'sshd -T')).stdout;
      expect(sshd, name).toMatch(/^passwordauthentication no$/m);
      expect(sshd, name).toMatch(/^permitrootlogin no$/m);
      expect((await onHost(name, 'cat /etc/systemd/timesyncd.conf.d/socle.conf')).stdout, name).toMatch(/^NTP=10\.241\.0\.123$/m);
      expect((await onHost(name, 'cat /etc/systemd/journald.conf.d/socle.conf')).stdout, name).toMatch(/^MaxRetentionSec=30day$/m);
      expect((await onHost(name, 'cat /etc/apt/sources.list.d/debian.sources')).stdout, name).toContain('URIs: http://10.241.0.80/debian');
      expect((await onHost(name, 'id -nG admin-test')).stdout, name).toMatch(/\bsocle-admins\b/);
      // The city's CA is trusted by the host.
      expect((await onHost(name, 'ls /usr/local/share/ca-certificates')).stdout, name).toMatch(/\.crt/);
    }
    // Docker on the two stack hosts only, and it trusts the city CA for the registry.
    for (const name of ['front', 'apps'] as const) expect((await onHost(name, `test -f /etc/docker/certs.d/${HOSTS_REGISTRY.host}/ca.crt && systemctl is-active docker`)).stdout.trim()).toBe('active');
    expect((await onHost('stockage', 'systemctl is-active docker')).stdout.trim()).not.toBe('active');
    // A password is never asked for, even for an account that exists.
    const password = await qn`ssh -o BatchMode=yes -o PreferredAuthentications=password -o UserKnownHostsFile=${hosts.knownHosts} -o StrictHostKeyChecking=yes admin-test@${hosts.hosts[0].address} true`;
    expect(password.exitCode).not.toBe(0);
    expect(password.stderr).toMatch(/Permission denied \(publickey\)/);
  }, 120_000);

  it('backed the stack up into the store the role made: restic\'s repository in the SFTP chroot, written as restic', async () => {
    const repo = (await onHost('stockage', 'ls /srv/socle-sftp/restic/srv/restic/ville-prov && stat -c %U /srv/socle-sftp/restic/srv/restic/ville-prov/snapshots')).stdout;
    expect(repo).toMatch(/^config$/m);
    expect(repo).toMatch(/^snapshots$/m);
    expect(repo.trim().split('\n').pop()).toBe('restic');
    expect((await onHost('stockage', 'ls /srv/socle-sftp/restic/srv/restic/ville-prov/snapshots | wc -l')).stdout.trim()).not.toBe('0');
    // The store's account has no shell: SFTP only.
    const shell = await qn`ssh -o BatchMode=yes -i ${backupKey} -o UserKnownHostsFile=${hosts.knownHosts} -o StrictHostKeyChecking=yes restic@10.241.0.12 id`;
    expect(shell.exitCode).not.toBe(0);
  }, 120_000);

  it('runs again and changes nothing: Ansible reports no change on any host, every plan is empty, no drift', async () => {
    const again = await provision([]);
    expect(again.code, again.out.slice(-6000)).toBe(0);
    const recap = [...again.out.matchAll(/^provision: {3}(\S+) : ok=\d+ changed=(\d+) unreachable=0 failed=0/gm)].map((m) => `${m[1]} changed=${m[2]}`);
    expect(recap.sort()).toEqual(HOST_NAMES.map((h) => `${h} changed=0`).sort());
    expect(again.out).toMatch(/provision: {3}ville-prov-front: no changes/);
    expect(again.out).toMatch(/provision: {3}ville-prov-apps: no changes/);
    expect(again.out).not.toMatch(/DRIFT/);
    expect(again.out).toMatch(/provision: {3}every plan is empty: nothing to apply/);
  }, 900_000);

  it('proves the firewall from inside: containers on the apps host reach the relay and the backup store, and nothing off the list', async () => {
    // The mail gateway is the one container with a way to the relay; the backup runner, to the store.
    const reach = async (from: string, address: string, port: number) => (await qn`docker exec ${container('apps')} docker exec ${from} timeout 5 bash -c ${`exec 3<>/dev/tcp/${address}/${port}`}`).exitCode === 0;
    const before = outsideConnections().length;
    expect(await reach('ville-prov-mail-gateway', OUTSIDE.address, 587), 'the relay').toBe(true);
    expect(await reach('ville-prov-backup-restic', '10.241.0.12', 22), 'the backup store').toBe(true);
    // Port 80 of the same outside host listens, but is on no list: dropped before it leaves the host.
    expect(await reach('ville-prov-mail-gateway', OUTSIDE.address, 80), 'the outside host\'s web port, from the mail gateway').toBe(false);
    expect(await reach('ville-prov-backup-restic', OUTSIDE.address, 80), 'the outside host\'s web port, from the backup runner').toBe(false);
    expect(await reach('ville-prov-backup-restic', OUTSIDE.address, 587), 'the relay, from a container with no flow to it').toBe(false);
    expect(outsideConnections().slice(before).map((l) => l.split(' ')[0])).toEqual(['587']);
    // The host itself: its registry yes, the outside host no, and SSH only from the admin network.
    expect((await onHost('apps', `timeout 5 bash -c 'exec 3<>/dev/tcp/${HOSTS_REGISTRY.host.replace(':', '/')}'`)).exitCode, 'apps to the registry').toBe(0);
    expect((await onHost('apps', `timeout 5 bash -c 'exec 3<>/dev/tcp/${OUTSIDE.address}/80'`)).exitCode, 'apps to the outside host').not.toBe(0);
    // A machine on the same network but outside the admin network: SSH dropped, the proxy answered.
    expect(await connectFromStranger('10.241.0.11', 22), 'SSH to apps from outside the admin network').toBe('dropped');
    expect(await connectFromStranger('10.241.0.12', 22), 'SSH to the store from outside the admin network').toBe('dropped');
    expect(await connectFromStranger('10.241.0.10', 443), 'the proxy, as a citizen reaches it').toBe('connected');
    // The consultation's port on apps is open to the front host only.
    expect(await connectFromStranger('10.241.0.11', 8081), 'the consultation upstream, from elsewhere than the front host').toBe('dropped');
  }, 120_000);

  it('reports a change made by hand on a host as drift, and puts it back', async () => {
    await q`docker exec ${container('apps')} docker rm --force ville-prov-consultation-web`;
    const r = await provision(['--from', 'plan']);
    expect(r.code, r.out.slice(-6000)).toBe(0);
    expect(r.out).toMatch(/ville-prov-apps: DRIFT: the city file asks for nothing new since the last provision, yet the plan says 1 to create/);
    expect(r.out).not.toMatch(/ville-prov-front: DRIFT/);
    expect((await onHost('apps', 'docker inspect --format {{.State.Health.Status}} ville-prov-consultation-web')).stdout.trim()).toBe('healthy');
  }, 900_000);

  it('stops before touching anything when the front host lacks the city\'s certificate, saying where to put it', async () => {
    await q`docker exec ${container('front')} mv /etc/socle/tls/ville-prov/privkey.pem /root/privkey.pem`;
    try {
      const r = await provision(['--from', 'facts']);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/step facts failed for ville-prov: front: no certificate in \/etc\/socle\/tls\/ville-prov \(fullchain\.pem and privkey\.pem, tls\.files\.directory\)/);
      expect(r.out).toMatch(/resume there: npm run provision -- .* --from facts/);
      expect(r.out).not.toMatch(/\[3\/8\]/);
    } finally {
      await q`docker exec ${container('front')} mv /root/privkey.pem /etc/socle/tls/ville-prov/privkey.pem`;
    }
  }, 120_000);
});
