// This machine made into the city host the engine tests deploy to, the way a city's host is
// reached: a real sshd on loopback (key only, a deploy user in the docker group, its host key
// pinned in a known_hosts file), a real registry (Debian's docker-registry) on loopback holding
// Socle's images, and the host firewall the Ansible role installs. Everything lives under one
// directory, so the global setup and every test worker find the same host. Idempotent.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { $ } from 'zx';

const TEST_HOST_DIR = '/var/lib/socle-test-host';
/** sshd of the test host: loopback only. */
const SSH_PORT = 15022;
const DEPLOY_USER = 'socle';
export const DEPLOY_KEY = join(TEST_HOST_DIR, 'deploy_ed25519');
export const KNOWN_HOSTS = join(TEST_HOST_DIR, 'known_hosts');
/** Where Debian's docker-registry listens. */
const REGISTRY_PORT = 15000;
/**
 * One registry, two names. Images are built and pushed as 127.0.0.1:15000/...; the test cities
 * pull them as localhost:15000/..., a name no local tag has, so every deploy really pulls from the
 * registry instead of finding the build's own tags. Docker trusts both names over plain HTTP
 * because they resolve to loopback.
 */
export const BUILD_REGISTRY = { host: `127.0.0.1:${REGISTRY_PORT}`, namespace: 'socle' };
export const CITY_REGISTRY = { host: `localhost:${REGISTRY_PORT}`, namespace: 'socle' };

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
  });
}

async function waitListening(port: number, what: string, log: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port}: see ${log}`);
}

export function daemon(command: string, args: string[], log: string): void {
  const out = openSync(log, 'a');
  spawn(command, args, { detached: true, stdio: ['ignore', out, out] }).unref();
}

/** The deploy user, its key, sshd on 127.0.0.1:15022 and the known_hosts pinning its host key. */
export async function ensureSsh(): Promise<void> {
  mkdirSync(TEST_HOST_DIR, { recursive: true, mode: 0o755 });
  if ((await qn`id -u ${DEPLOY_USER}`).exitCode !== 0) await q`useradd --create-home --shell /bin/bash --groups docker ${DEPLOY_USER}`;
  else await q`usermod --append --groups docker ${DEPLOY_USER}`;
  // No password at all ('*'), rather than a locked one ('!'): sshd refuses locked accounts even for keys.
  await q`usermod --password ${'*'} ${DEPLOY_USER}`;
  if (!existsSync(DEPLOY_KEY)) await q`ssh-keygen -q -t ed25519 -N ${''} -C socle-deploy -f ${DEPLOY_KEY}`;
  const hostKey = join(TEST_HOST_DIR, 'ssh_host_ed25519_key');
  if (!existsSync(hostKey)) await q`ssh-keygen -q -t ed25519 -N ${''} -f ${hostKey}`;
  const authorized = join(TEST_HOST_DIR, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${DEPLOY_KEY}.pub`));
  const config = join(TEST_HOST_DIR, 'sshd_config');
  writeFileSync(config, [
    `ListenAddress 127.0.0.1:${SSH_PORT}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(TEST_HOST_DIR, 'sshd.pid')}`,
    `AllowUsers ${DEPLOY_USER}`,
    `AuthorizedKeysFile ${authorized}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin no', 'UsePAM no',
    // The deploy user's sessions need only docker system dial-stdio and the docker CLI.
    'AllowTcpForwarding no', 'X11Forwarding no', 'PermitTunnel no',
    // The provider opens several connections at once.
    'MaxStartups 30:30:60', 'MaxSessions 30',
    '',
  ].join('\n'));
  writeFileSync(KNOWN_HOSTS, `[127.0.0.1]:${SSH_PORT} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  if (await listening(SSH_PORT)) return;
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  await q`/usr/sbin/sshd -t -f ${config}`;
  daemon('/usr/sbin/sshd', ['-f', config, '-E', join(TEST_HOST_DIR, 'sshd.log')], join(TEST_HOST_DIR, 'sshd.out'));
  await waitListening(SSH_PORT, 'sshd', join(TEST_HOST_DIR, 'sshd.log'));
}

/** Debian's docker-registry on 127.0.0.1:15000, storing under the test host's directory. */
export async function ensureRegistry(): Promise<void> {
  if (await listening(REGISTRY_PORT)) return;
  const config = join(TEST_HOST_DIR, 'registry.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${join(TEST_HOST_DIR, 'registry')} }, delete: { enabled: true } }`,
    `http: { addr: "127.0.0.1:${REGISTRY_PORT}" }`,
    '',
  ].join('\n'));
  daemon('/usr/bin/docker-registry', ['serve', config], join(TEST_HOST_DIR, 'registry.log'));
  await waitListening(REGISTRY_PORT, 'docker-registry', join(TEST_HOST_DIR, 'registry.log'));
}

/** The "outside" host: a network namespace this machine makes, reached through a veth pair. */
export const OUTSIDE = { namespace: 'socle-outside', hostSide: 'socle-out0', address: '198.18.0.2', hostAddress: '198.18.0.1', ports: [80, 587, 2222] } as const;
/** Every connection the outside host accepts is written here, one line each: `<port> <peer>`. */
const OUTSIDE_LOG = join(TEST_HOST_DIR, 'outside-connections.log');

/**
 * 198.18.0.2 (a benchmarking range, RFC 2544) in a namespace of this machine: the destination the
 * tests use to show what a container can and cannot reach "outside". Nothing leaves the machine.
 */
export async function ensureOutside(): Promise<void> {
  if ((await qn`ip netns exec ${OUTSIDE.namespace} true`).exitCode !== 0) {
    await q`ip netns add ${OUTSIDE.namespace}`;
    await q`ip link add ${OUTSIDE.hostSide} type veth peer name socle-out1`;
    await q`ip link set socle-out1 netns ${OUTSIDE.namespace}`;
    await q`ip addr add ${`${OUTSIDE.hostAddress}/30`} dev ${OUTSIDE.hostSide}`;
    await q`ip link set ${OUTSIDE.hostSide} up`;
    await q`ip netns exec ${OUTSIDE.namespace} ip addr add ${`${OUTSIDE.address}/30`} dev socle-out1`;
    await q`ip netns exec ${OUTSIDE.namespace} ip link set socle-out1 up`;
    await q`ip netns exec ${OUTSIDE.namespace} ip link set lo up`;
  }
  const probe = await qn`ip netns exec ${OUTSIDE.namespace} bash -c ${`exec 3<>/dev/tcp/${OUTSIDE.address}/${OUTSIDE.ports[0]}`}`;
  if (probe.exitCode === 0) return;
  const server = [
    "const net = require('node:net'); const fs = require('node:fs');",
    `for (const port of ${JSON.stringify(OUTSIDE.ports)}) net.createServer((s) => { fs.appendFileSync(${JSON.stringify(OUTSIDE_LOG)}, port + ' ' + s.remoteAddress + '\\n'); s.end(); }).listen(port, '0.0.0.0');`,
  ].join('\n');
  daemon('ip', ['netns', 'exec', OUTSIDE.namespace, process.execPath, '-e', server], join(TEST_HOST_DIR, 'outside.log'));
  for (let i = 0; i < 50; i++) {
    if ((await qn`ip netns exec ${OUTSIDE.namespace} bash -c ${`exec 3<>/dev/tcp/${OUTSIDE.address}/${OUTSIDE.ports[0]}`}`).exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the outside host did not listen: see ${join(TEST_HOST_DIR, 'outside.log')}`);
}

/** Connections the outside host has seen, as `<port> <peer>` lines. */
export function outsideConnections(): string[] {
  return existsSync(OUTSIDE_LOG) ? readFileSync(OUTSIDE_LOG, 'utf8').split('\n').filter(Boolean) : [];
}

/**
 * Renders the Ansible role's host firewall template with the flows a synth wrote for one stack
 * (through Ansible itself, as the role does), then loads it with nft. Returns the rendered file.
 */
export async function loadHostFirewall(varsFile: string, dest: string): Promise<string> {
  const template = join(import.meta.dirname, '../../ansible/roles/docker_host/templates/etc/socle/host-firewall.nft.j2');
  const env = { ...process.env, ANSIBLE_LOCAL_TEMP: join(TEST_HOST_DIR, 'ansible-tmp'), ANSIBLE_NOCOLOR: '1' };
  await $({ quiet: true, env })`ansible localhost --connection local --inventory localhost, --module-name ansible.builtin.template --args ${`src=${template} dest=${dest} mode=0644`} --extra-vars ${`@${varsFile}`}`;
  await q`nft -f ${dest}`;
  return readFileSync(dest, 'utf8');
}
