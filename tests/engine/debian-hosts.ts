// Fresh Debian servers for npm run provision's engine test: containers of the debian-host image
// (systemd, sshd, an administrator account) on a network the test makes, each with a Docker engine
// of its own once Ansible installs it, so that the deploy reaches each one over ssh:// as a city's
// server. Beside them on that network: the city registry (Debian's docker-registry with TLS from
// the test's CA, on the network's gateway) and, through this machine's routing, the "outside"
// host (tests/engine/test-host.ts). A guard on this machine drops anything the hosts send beyond
// those: the test sends nothing off the machine whatever the hosts' own firewalls do.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { BUILDABLE } from '../../scripts/lib/images.js';
import { imageReference } from '../../services/common/images.js';
import { ROOT, tempDir } from '../helpers.js';
import { BUILD_REGISTRY, OUTSIDE, daemon } from './test-host.js';

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });

/** The hosts' network: a bridge of this machine's engine, named so the guard can match it. */
const HOSTS_NET = { name: 'socle-prov-net', bridge: 'socle-prov0', subnet: '10.241.0.0/24', gateway: '10.241.0.1' } as const;
/** The registry the hosts pull from: the suite's registry storage, served again with TLS on the gateway. */
export const HOSTS_REGISTRY = { host: `${HOSTS_NET.gateway}:15443`, namespace: 'socle' } as const;
const IMAGE = 'socle-test-debian-host';
const LABEL = 'fr.socle.test=debian-host';
/** Options that let systemd and a Docker engine run in a container on an engine that cannot grant --privileged. */
const SYSTEM_CONTAINER = [
  ...['SYS_ADMIN', 'NET_ADMIN', 'NET_RAW', 'SYS_PTRACE', 'SYS_TIME', 'MKNOD', 'AUDIT_CONTROL', 'AUDIT_WRITE', 'AUDIT_READ', 'SYS_BOOT', 'SYS_RAWIO', 'SYS_NICE', 'IPC_LOCK', 'IPC_OWNER',
    'LINUX_IMMUTABLE', 'MAC_ADMIN', 'MAC_OVERRIDE', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'NET_BROADCAST', 'SYS_PACCT', 'SYS_TTY_CONFIG', 'LEASE', 'DAC_READ_SEARCH', 'SYS_CHROOT', 'SETFCAP', 'SETPCAP']
    .flatMap((c) => ['--cap-add', c]),
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined',
  '--tmpfs', '/run', '--tmpfs', '/run/lock', '--volume', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
];

export interface DebianHost {
  readonly name: string;
  /** The container's name on this machine's engine. */
  readonly container: string;
  readonly address: string;
}

export interface DebianHosts {
  readonly hosts: readonly DebianHost[];
  /** The administrator the hosts were installed with, and their key. */
  readonly admin: { readonly name: string; readonly key: string };
  /** known_hosts pinning every host's SSH key (read from the host itself, never trusted on first use). */
  readonly knownHosts: string;
  /** The test CA (PEM) the registry's and the city's certificates chain to. */
  readonly ca: string;
  /** A directory holding fullchain.pem and privkey.pem for the city's names, from that CA. */
  readonly tls: string;
}

/** Builds the debian-host image from Socle's base (the global setup; cached by Docker's build cache). */
export async function ensureDebianHostImage(): Promise<void> {
  const base = imageReference('base', BUILD_REGISTRY, {});
  await q`docker build --quiet --build-arg ${`BASE=${base}`} --tag ${IMAGE} ${join(import.meta.dirname, 'debian-host')}`;
}

/** The network, and the guard on this machine: the hosts reach each other, the gateway and the outside host, nothing else. */
async function ensureNetwork(): Promise<void> {
  if ((await qn`docker network inspect ${HOSTS_NET.name}`).exitCode !== 0) {
    await q`docker network create --label ${LABEL} --subnet ${HOSTS_NET.subnet} --gateway ${HOSTS_NET.gateway} --opt ${`com.docker.network.bridge.name=${HOSTS_NET.bridge}`} ${HOSTS_NET.name}`;
  }
  const guard = [
    'table inet socle_test_hosts_guard', 'delete table inet socle_test_hosts_guard',
    'table inet socle_test_hosts_guard {',
    '  chain forward {',
    '    type filter hook forward priority filter - 20; policy accept;',
    `    iifname "${HOSTS_NET.bridge}" ct state established,related accept`,
    `    iifname "${HOSTS_NET.bridge}" oifname "${HOSTS_NET.bridge}" accept`,
    `    iifname "${HOSTS_NET.bridge}" ip daddr ${OUTSIDE.address} accept`,
    `    iifname "${HOSTS_NET.bridge}" counter drop comment "the test hosts send nothing off this machine"`,
    '  }',
    '}', '',
  ].join('\n');
  const file = join(stateDir(), 'guard.nft');
  writeFileSync(file, guard);
  await q`nft -f ${file}`;
}

function stateDir(): string {
  const dir = '/var/lib/socle-test-host/debian-hosts';
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A CA, and a certificate for the registry's address and the city's names, under the state directory. */
async function ensureCertificates(domain: string): Promise<{ ca: string; registryCert: string; registryKey: string; tls: string }> {
  const dir = stateDir();
  const ca = join(dir, 'ca.pem');
  const tls = join(dir, 'tls', domain);
  if (!existsSync(ca)) await q`openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=AC-Test-Provision -keyout ${join(dir, 'ca.key')} -out ${ca}`;
  const issue = async (name: string, san: string, out: string) => {
    if (existsSync(join(out, 'fullchain.pem'))) return;
    mkdirSync(out, { recursive: true });
    await q`openssl req -newkey rsa:2048 -nodes -subj ${`/CN=${name}`} -keyout ${join(out, 'privkey.pem')} -out ${join(out, 'server.csr')}`;
    writeFileSync(join(out, 'san.ext'), `subjectAltName=${san}\n`);
    await q`openssl x509 -req -in ${join(out, 'server.csr')} -CA ${ca} -CAkey ${join(dir, 'ca.key')} -CAcreateserial -days 30 -extfile ${join(out, 'san.ext')} -out ${join(out, 'cert.pem')}`;
    writeFileSync(join(out, 'fullchain.pem'), readFileSync(join(out, 'cert.pem'), 'utf8') + readFileSync(ca, 'utf8'));
  };
  await issue(HOSTS_NET.gateway, `IP:${HOSTS_NET.gateway}`, join(dir, 'registry-tls'));
  await issue(domain, `DNS:${domain},DNS:*.${domain}`, tls);
  return { ca, registryCert: join(dir, 'registry-tls', 'fullchain.pem'), registryKey: join(dir, 'registry-tls', 'privkey.pem'), tls };
}

/**
 * Debian's docker-registry on the gateway with TLS, serving the suite's registry storage: what the
 * suite built and pushed is in the city registry, as a city's build machine would have pushed it.
 * This machine's Docker trusts the test CA for it (the deploying machine pushes there).
 */
async function ensureRegistry(certs: { ca: string; registryCert: string; registryKey: string }): Promise<void> {
  const trust = join('/etc/docker/certs.d', HOSTS_REGISTRY.host);
  mkdirSync(trust, { recursive: true });
  writeFileSync(join(trust, 'ca.crt'), readFileSync(certs.ca));
  const probe = await qn`curl --silent --output /dev/null --cacert ${certs.ca} ${`https://${HOSTS_REGISTRY.host}/v2/`}`;
  if (probe.exitCode === 0) return;
  const config = join(stateDir(), 'registry.yml');
  writeFileSync(config, [
    'version: 0.1', 'log: { level: warn }',
    'storage: { filesystem: { rootdirectory: /var/lib/socle-test-host/registry }, delete: { enabled: true } }',
    `http: { addr: "${HOSTS_REGISTRY.host}", tls: { certificate: ${certs.registryCert}, key: ${certs.registryKey} } }`, '',
  ].join('\n'));
  daemon('/usr/bin/docker-registry', ['serve', config], join(stateDir(), 'registry.log'));
  for (let i = 0; i < 50; i++) {
    if ((await qn`curl --silent --output /dev/null --cacert ${certs.ca} ${`https://${HOSTS_REGISTRY.host}/v2/`}`).exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the hosts' registry did not answer on https://${HOSTS_REGISTRY.host}: see ${join(stateDir(), 'registry.log')}`);
}

/** Removes every debian-host container and its Docker volume (a fresh start each time). */
export async function removeDebianHosts(): Promise<void> {
  const ids = (await q`docker ps --all --quiet --filter ${`label=${LABEL}`}`).stdout.split('\n').filter(Boolean);
  if (ids.length) await q`docker rm --force --volumes ${ids}`;
  const volumes = (await q`docker volume ls --quiet --filter ${`label=${LABEL}`}`).stdout.split('\n').filter(Boolean);
  if (volumes.length) await q`docker volume rm --force ${volumes}`;
}

/**
 * Starts one fresh Debian host per name at .10, .11, ... of the hosts' network, with the
 * administrator account `admin` (SSH key, sudo without password, as an installer leaves it),
 * and returns how to reach them. Every previous host is removed first.
 */
async function startDebianHosts(names: readonly string[], domain: string, admin = 'admin-test'): Promise<DebianHosts> {
  if ((await qn`docker image inspect ${IMAGE}`).exitCode !== 0) throw new Error(`no ${IMAGE} image: the engine tests' global setup builds it (ensureDebianHostImage)`);
  await ensureNetwork();
  const certs = await ensureCertificates(domain);
  await ensureRegistry(certs);
  await removeDebianHosts();
  const key = join(stateDir(), 'admin_ed25519');
  if (!existsSync(key)) await q`ssh-keygen -q -t ed25519 -N ${''} -C ${`${admin}@poste-admin`} -f ${key}`;
  const hosts: DebianHost[] = names.map((name, i) => ({ name, container: `socle-prov-${name}`, address: `10.241.0.${10 + i}` }));
  for (const h of hosts) {
    // The engine's data on a volume: overlay2 cannot stack on the container's own overlay.
    await q`docker volume create --label ${LABEL} ${`${h.container}-docker`}`;
    await q`docker run --detach --name ${h.container} --hostname ${h.name} --label ${LABEL} --network ${HOSTS_NET.name} --ip ${h.address} ${SYSTEM_CONTAINER} --volume ${`${h.container}-docker:/var/lib/docker`} ${IMAGE}`;
  }
  const known: string[] = [];
  for (const h of hosts) {
    await waitBooted(h.container);
    const pub = readFileSync(`${key}.pub`, 'utf8').trim();
    await q`docker exec ${h.container} sh -c ${`useradd --create-home --shell /bin/bash --groups sudo ${admin} && usermod --password '*' ${admin} && install -d -m 0700 -o ${admin} -g ${admin} /home/${admin}/.ssh && echo '${pub}' >/home/${admin}/.ssh/authorized_keys && chown ${admin}: /home/${admin}/.ssh/authorized_keys && echo '${admin} ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/installer && chmod 0440 /etc/sudoers.d/installer`}`;
    const hostKey = (await q`docker exec ${h.container} cat /etc/ssh/ssh_host_ed25519_key.pub`).stdout.trim().split(' ').slice(0, 2).join(' ');
    known.push(`${h.address} ${hostKey}`);
  }
  const knownHosts = join(stateDir(), 'known_hosts');
  writeFileSync(knownHosts, known.join('\n') + '\n');
  return { hosts, admin: { name: admin, key }, knownHosts, ca: certs.ca, tls: certs.tls };
}

/** Waits for systemd to finish booting the host (running, or degraded with what failed). */
async function waitBooted(container: string): Promise<void> {
  let state = '';
  for (let i = 0; i < 120; i++) {
    state = (await qn`docker exec ${container} systemctl is-system-running`).stdout.trim();
    if (state === 'running' || state === 'degraded') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (state !== 'running') {
    const failed = (await qn`docker exec ${container} systemctl --failed --no-legend`).stdout.trim();
    throw new Error(`${container} did not boot: systemd is ${state || 'not answering'}${failed ? `; failed units: ${failed}` : ''}`);
  }
  if ((await qn`docker exec ${container} systemctl is-active ssh`).stdout.trim() !== 'active') throw new Error(`${container}: sshd is not running`);
}

/** The provisioning test city's hosts, and each host's role in tests/fixtures/ville-prov.yaml. */
export const PROVISION_HOSTS = ['front', 'apps', 'stockage'] as const;

/**
 * Three fresh hosts and the city file that names them (tests/fixtures/ville-prov.yaml, its
 * placeholders filled), with what the city has before it provisions: its certificate installed on
 * the front host, its images in its registry (the suite's, tagged with the city registry's name:
 * same recipe, so build-images finds them up to date and only pushes), a backup key pair.
 */
export async function prepareProvisionCity(): Promise<{ hosts: DebianHosts; cityFile: string; backupKey: string }> {
  const hosts = await startDebianHosts(PROVISION_HOSTS, 'ville-prov.fr');
  const front = hosts.hosts.find((h) => h.name === 'front')!.container;
  // The city installs its certificate on the front host (tls.files.directory) before the proxy runs.
  await q`docker exec ${front} install -d -m 0755 /etc/socle/tls/ville-prov`;
  for (const f of ['fullchain.pem', 'privkey.pem']) await $({ quiet: true, input: readFileSync(join(hosts.tls, f)) })`docker exec -i ${front} sh -c ${`cat >/etc/socle/tls/ville-prov/${f} && chmod 0644 /etc/socle/tls/ville-prov/${f}`}`;
  for (const image of BUILDABLE) {
    const from = imageReference(image.key, BUILD_REGISTRY, {});
    if ((await qn`docker image inspect ${from}`).exitCode === 0) await q`docker tag ${from} ${imageReference(image.key, HOSTS_REGISTRY, {})}`;
  }
  const backupKey = join(tempDir(), 'sauvegarde_ed25519');
  await q`ssh-keygen -q -t ed25519 -N ${''} -C socle-backup -f ${backupKey}`;
  const cityFile = join(tempDir(), 'ville-prov.yaml');
  writeFileSync(cityFile, readFileSync(join(ROOT, 'tests/fixtures/ville-prov.yaml'), 'utf8')
    .replaceAll('KNOWN_HOSTS', hosts.knownHosts).replaceAll('ADMIN_KEY', hosts.admin.key).replace('CITY_CA', hosts.ca).replace('STATE_DIRECTORY', tempDir('socle-provision-state-'))
    .replace('ADMIN_PUBLIC_KEY', JSON.stringify(readFileSync(`${hosts.admin.key}.pub`, 'utf8').trim())));
  return { hosts, cityFile, backupKey };
}

/**
 * What the consultation app's own installation does in a real city (Decidim's migrations, an
 * organization): the stand-in image installs nothing, and the backups refuse an empty database.
 */
export async function installConsultation(hosts: DebianHosts): Promise<void> {
  const apps = hosts.hosts.find((h) => h.name === 'apps')!.container;
  await q`docker exec ${apps} docker exec ville-prov-consultation-db psql -U postgres -d consultation -Atq -v ON_ERROR_STOP=1 -c ${'SET ROLE consultation'} -c ${'CREATE TABLE IF NOT EXISTS proposals (id serial PRIMARY KEY, title text NOT NULL)'} -c ${"INSERT INTO proposals (title) VALUES ('Horaires des écoles')"}`;
}

/** A machine on the hosts' network outside the admin network: a network namespace on their bridge. */
const STRANGER = { namespace: 'socle-prov-stranger', hostSide: 'socle-prov-st0', address: '10.241.0.99' } as const;

/**
 * Opens a TCP connection from STRANGER to `address:port` and says what happened: `connected`,
 * `refused` (something answered no) or `dropped` (no answer within 5 s: a firewall).
 */
export async function connectFromStranger(address: string, port: number): Promise<'connected' | 'refused' | 'dropped'> {
  if ((await qn`ip netns exec ${STRANGER.namespace} true`).exitCode !== 0) {
    await q`ip netns add ${STRANGER.namespace}`;
    await q`ip link add ${STRANGER.hostSide} type veth peer name socle-prov-st1`;
    await q`ip link set socle-prov-st1 netns ${STRANGER.namespace}`;
    await q`ip netns exec ${STRANGER.namespace} ip addr add ${`${STRANGER.address}/24`} dev socle-prov-st1`;
    await q`ip netns exec ${STRANGER.namespace} ip link set socle-prov-st1 up`;
  }
  // Again each time: the bridge is new whenever the hosts' network was made again.
  await q`ip link set ${STRANGER.hostSide} master ${HOSTS_NET.bridge} up`;
  const r = await qn`ip netns exec ${STRANGER.namespace} timeout 5 bash -c ${`exec 3<>/dev/tcp/${address}/${port}`}`;
  return r.exitCode === 0 ? 'connected' : r.exitCode === 124 ? 'dropped' : 'refused';
}
