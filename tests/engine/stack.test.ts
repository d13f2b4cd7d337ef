// The synthesized stack of a test city, run on the local Docker engine (see runner.ts): what a
// city would get from terraform apply, minus the images that need an upstream download.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { $ } from 'zx';
import { StackRunner, waitHealthy } from './runner.js';
import { TEST_SLUG, prepareTestCity } from './test-city.js';
import { ROOT, tempDir } from '../helpers.js';

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });
const SLUG = TEST_SLUG;
const name = (s: string) => `${SLUG}-${s}`;
const PROXY = name('proxy-nginx');
const TOR = name('onion-tor');
const LIMESURVEY_DB = name('limesurvey-db');
const CONSULTATION_DB = name('consultation-db');
const BACKUP = name('backup-restic');
/** The host firewall rule the Ansible role installs (a Jinja template without variables). */
const FIREWALL = join(ROOT, 'ansible/roles/docker_host/templates/etc/socle/host-firewall.nft.j2');
/** Where the browser test leaves its screenshot, for a human to look at. */
const SCREENSHOTS = join(tempDir('socle-screenshots-'));

let runner: StackRunner;
let started: string[] = [];
let tls: string;
let backupKey: string;

async function envOf(container: string, key: string): Promise<string> {
  const env: string[] = JSON.parse((await q`docker inspect --format ${'{{json .Config.Env}}'} ${container}`).stdout);
  const entry = env.find((e) => e.startsWith(`${key}=`));
  if (!entry) throw new Error(`${container} has no ${key}`);
  return entry.slice(key.length + 1);
}

async function ipOn(container: string, network: string): Promise<string> {
  return (await q`docker inspect --format ${`{{(index .NetworkSettings.Networks "${network}").IPAddress}}`} ${container}`).stdout.trim();
}

/** Whether `from` can open a TCP connection to host:port within 3 seconds. */
async function canConnect(from: string, host: string, port: number): Promise<boolean> {
  const r = await qn`docker exec ${from} timeout 3 bash -c ${`exec 3<>/dev/tcp/${host}/${port}`}`;
  return r.exitCode === 0;
}

function curl(args: string[]) {
  return qn`curl --silent --show-error --max-time 10 --cacert ${join(tls, 'ca.pem')} ${args}`;
}

const https = (host: string, path: string, extra: string[] = []) =>
  curl(['--resolve', `${host}:18443:127.0.0.1`, '--dump-header', '-', '--output', '/dev/null', ...extra, `https://${host}:18443${path}`]);

beforeAll(async () => {
  const city = await prepareTestCity();
  tls = city.tls;
  backupKey = city.backupKey;
  const stack = city.stack;
  runner = new StackRunner(stack, { variables: city.variables });
  await runner.down();
  const report = await runner.up();
  started = report.started;
  console.log(`started: ${started.join(', ')}`);
  console.log(`left out (upstream image not mirrored here): ${report.skipped.map((s) => `${s.name} (${s.image})`).join(', ')}`);
  const seconds = await waitHealthy(started, 180);
  console.log(`all ${started.length} containers healthy after ${seconds.toFixed(0)} s`);
}, 400_000);

afterAll(async () => {
  await qn`nft delete table inet socle_host`;
  await runner?.down();
});

describe('the test city on a real Docker engine', () => {
  it('starts every container whose image Socle builds, and leaves out only upstream ones', () => {
    expect(started.sort()).toEqual([
      BACKUP, CONSULTATION_DB, name('consultation-redis'), LIMESURVEY_DB, name('mail-gateway'),
      name('matomo-db'), TOR, PROXY, name('proxy-log-retention'), name('backup-store-sftp'),
    ].sort());
  });

  it('brings a container killed with SIGKILL back to healthy', async () => {
    for (const victim of [PROXY, LIMESURVEY_DB]) {
      const before = Number((await q`docker inspect --format {{.RestartCount}} ${victim}`).stdout);
      const pid = (await q`docker inspect --format {{.State.Pid}} ${victim}`).stdout.trim();
      await q`kill -KILL ${pid}`;
      for (let i = 0; i < 30 && Number((await q`docker inspect --format {{.RestartCount}} ${victim}`).stdout) === before; i++) await new Promise((r) => setTimeout(r, 1000));
      expect(Number((await q`docker inspect --format {{.RestartCount}} ${victim}`).stdout)).toBeGreaterThan(before);
    }
    await waitHealthy([PROXY, LIMESURVEY_DB], 180);
  }, 400_000);
});

describe('the reverse proxy', () => {
  it('serves the legal notice over HTTPS with the security headers and no version', async () => {
    const r = await https('participer.ville-test.fr', '/mentions-legales');
    expect(r.exitCode, r.stderr).toBe(0);
    const headers = r.stdout.toLowerCase();
    expect(headers).toMatch(/^http\/2 200/);
    expect(headers).toMatch(/strict-transport-security: max-age=63072000; includesubdomains/);
    expect(headers).toMatch(/referrer-policy: no-referrer/);
    expect(headers).toMatch(/permissions-policy: geolocation=\(\)/);
    expect(headers).toMatch(/x-content-type-options: nosniff/);
    const csp = /content-security-policy: ([^\r\n]+)/.exec(headers)?.[1] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toMatch(/https?:|\*\./);
    expect(headers).toMatch(/server: nginx\r?\n/);
    const body = await curl(['--resolve', 'participer.ville-test.fr:18443:127.0.0.1', 'https://participer.ville-test.fr:18443/mentions-legales']);
    expect(body.stdout).toContain('Commune de Ville-Test');
    expect(body.stdout).toContain('Mairie de Ville-Test, salle serveurs');
  });

  it('keeps the headers on the app routes, even while the app is away', async () => {
    const r = await https('enquetes.ville-test.fr', '/');
    expect(r.stdout).toMatch(/^HTTP\/2 502/);
    expect(r.stdout.toLowerCase()).toMatch(/strict-transport-security/);
  });

  it('redirects HTTP to HTTPS', async () => {
    const r = await curl(['--resolve', 'enquetes.ville-test.fr:18080:127.0.0.1', '--dump-header', '-', '--output', '/dev/null', 'http://enquetes.ville-test.fr:18080/a?b=c']);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 301/);
    expect(r.stdout).toMatch(/location: https:\/\/enquetes\.ville-test\.fr\/a\?b=c/i);
  });

  it('refuses unknown host names', async () => {
    const r = await https('inconnu.ville-test.fr', '/');
    expect(r.stdout).toMatch(/^HTTP\/2 421/);
  });

  it('speaks TLS 1.2 and 1.3 only, with forward-secret AEAD ciphers', async () => {
    const handshake = (flags: string[]) => qn`sh -c ${`echo | openssl s_client -connect 127.0.0.1:18443 -servername participer.ville-test.fr ${flags.join(' ')} 2>&1`}`;
    // OpenSSL 3 sums a handshake up as "New, <protocol>, Cipher is <cipher>" ("(NONE)" on refusal).
    const negotiated = async (flags: string[]) => /New, (\S+), Cipher is (\S+)/.exec((await handshake(flags)).stdout)?.slice(1) ?? [];
    expect(await negotiated(['-tls1_3'])).toEqual(['TLSv1.3', expect.stringMatching(/^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$/)]);
    expect(await negotiated(['-tls1_2'])).toEqual(['TLSv1.2', expect.stringMatching(/^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/)]);
    expect(await negotiated(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'])).toEqual(['(NONE)', '(NONE)']);
    expect(await negotiated(['-tls1_2', '-cipher', 'AES128-SHA'])).toEqual(['(NONE)', '(NONE)']);
  });
});

describe('isolation', () => {
  it('gives a container of a data-tier network no connection outside it', async () => {
    const proxyPublic = await ipOn(PROXY, name('public'));
    expect(await canConnect(TOR, proxyPublic, 80)).toBe(true); // control: the proxy answers there
    expect(await canConnect(LIMESURVEY_DB, proxyPublic, 80)).toBe(false);
    const internal = (await q`docker network inspect --format {{.Internal}} ${name('limesurvey-data')}`).stdout.trim();
    expect(internal).toBe('true');
  });

  it('keeps containers away from the host\'s own services, with the firewall the Ansible role installs', async () => {
    // A service of the host listening on every address, as sshd does.
    const server = createServer((socket) => socket.end()).listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const gateway = (await q`docker network inspect --format ${'{{(index .IPAM.Config 0).Gateway}}'} ${name('limesurvey-data')}`).stdout.trim();
    try {
      await qn`nft delete table inet socle_host`;
      expect(await canConnect(LIMESURVEY_DB, gateway, port)).toBe(true); // without it, Docker lets this through
      await q`nft -f ${FIREWALL}`;
      expect(await canConnect(LIMESURVEY_DB, gateway, port)).toBe(false);
      expect(await canConnect(PROXY, (await q`docker network inspect --format ${'{{(index .IPAM.Config 0).Gateway}}'} ${name('public')}`).stdout.trim(), port)).toBe(false);
    } finally {
      server.close();
    }
  });

  it('keeps the databases out of the proxy\'s reach', async () => {
    const db = await ipOn(LIMESURVEY_DB, name('limesurvey-data'));
    expect(await canConnect(BACKUP, db, 3306)).toBe(true); // control: the backup runner dumps it
    expect(await canConnect(PROXY, db, 3306)).toBe(false);
    expect((await qn`docker exec ${PROXY} getent hosts limesurvey-db`).exitCode).not.toBe(0);
  });

  it('publishes ports from the proxy only (and the backup store, a recorded exception), on loopback', async () => {
    const rows = (await q`docker ps --filter ${`label=fr.socle.commune=${SLUG}`} --format ${'{{.Names}} {{.Ports}}'}`).stdout.trim().split('\n');
    const publishing = rows.filter((r) => r.includes('->'));
    // The proxy, and the backup store: its SFTP port on the host's private address, an exception
    // the policy report records with its reason.
    expect(publishing.map((r) => r.split(' ')[0]).sort()).toEqual([name('backup-store-sftp'), PROXY].sort());
    expect(publishing.find((r) => r.startsWith(PROXY))).toMatch(/127\.0\.0\.1:18443->443\/tcp/);
    expect(publishing.find((r) => r.startsWith(name('backup-store-sftp')))).toMatch(/127\.0\.0\.1:12222->2222\/tcp/);
  });
});

describe('the backup store (SFTP)', () => {
  const sftp = (key: string) => qn`sh -c ${`echo ls | sftp -b - -i ${key} -P 12222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null restic@127.0.0.1`}`;

  it('lets the backup runners\' key in, SFTP only', async () => {
    const r = await sftp(backupKey);
    expect(r.exitCode, r.stderr).toBe(0);
    const shell = await qn`ssh -i ${backupKey} -p 12222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null restic@127.0.0.1 id`;
    expect(shell.stdout).not.toMatch(/uid=/);
  });

  it('refuses any other key and passwords', async () => {
    const other = join(tempDir(), 'other');
    await q`ssh-keygen -q -t ed25519 -N ${''} -f ${other}`;
    const r = await sftp(other);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
  });
});

describe('the onion service (Tor with DisableNetwork 1)', () => {
  const site = 'limesurvey';
  const hostname = async () => (await q`docker exec ${TOR} cat /var/lib/tor/onion/${site}/hostname`).stdout.trim();

  it('generates a v3 onion address the proxy answers for', async () => {
    const onion = await hostname();
    expect(onion).toMatch(/^[a-z2-7]{56}\.onion$/);
    const r = await qn`docker exec ${PROXY} curl --silent --output /dev/null --write-out ${'%{http_code}'} --header ${`Host: ${onion}`} http://127.0.0.1:8082/mentions-legales`;
    expect(r.stdout).toBe('200');
  });

  it('keeps the address when the container is recreated (keys on a volume)', async () => {
    const before = await hostname();
    await runner.recreate(TOR);
    await waitHealthy([TOR], 180);
    expect(await hostname()).toBe(before);
  }, 300_000);
});

describe('the databases', () => {
  async function mariadb(user: string, password: string) {
    return qn`docker run --rm --network ${name('limesurvey-data')} --entrypoint mariadb registre.ville-test.fr/socle/mariadb:bookworm --host=limesurvey-db --user=${user} --password=${password} --execute=${'SELECT 1'} limesurvey`;
  }
  async function psql(user: string, password: string) {
    return qn`docker run --rm --network ${name('consultation-data')} --env ${`PGPASSWORD=${password}`} --entrypoint psql registre.ville-test.fr/socle/postgres:bookworm --host=consultation-db --username=${user} --dbname=consultation --command=${'SELECT 1'}`;
  }

  it('MariaDB accepts the app credentials and nothing else', async () => {
    const password = await envOf(LIMESURVEY_DB, 'MARIADB_PASSWORD');
    expect((await mariadb('limesurvey', password)).exitCode).toBe(0);
    const wrong = await mariadb('limesurvey', `${password}x`);
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr).toMatch(/Access denied/);
    expect((await mariadb('admin', password)).stderr).toMatch(/Access denied/);
    // No root over the network at all; the backup account reads and cannot write.
    expect((await mariadb('root', password)).stderr).toMatch(/Access denied/);
    const dump = await envOf(LIMESURVEY_DB, 'MARIADB_BACKUP_PASSWORD');
    expect((await mariadb('socle_backup', dump)).exitCode).toBe(0);
    const write = await qn`docker run --rm --network ${name('limesurvey-data')} --entrypoint mariadb registre.ville-test.fr/socle/mariadb:bookworm --host=limesurvey-db --user=socle_backup --password=${dump} --execute=${'CREATE TABLE t (i INT)'} limesurvey`;
    expect(write.stderr).toMatch(/command denied/);
  }, 60_000);

  it('PostgreSQL accepts the app credentials and nothing else, with no trusted superuser', async () => {
    const password = await envOf(CONSULTATION_DB, 'POSTGRES_PASSWORD');
    const ok = await psql('consultation', password);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await psql('consultation', `${password}x`)).stderr).toMatch(/password authentication failed/);
    expect((await psql('postgres', '')).stderr).toMatch(/password authentication failed|no password supplied/);
  }, 60_000);
});

describe('in a browser (Debian\'s Chromium, headless)', () => {
  it('shows the legal notice in French, and the page asks nothing of any third party', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      // No background traffic of the browser's own, and the city's names resolved to loopback only.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.ville-test.fr 127.0.0.1, EXCLUDE localhost'],
    });
    try {
      // The test CA is not in the browser's store; curl checks the chain with it (tests above).
      const page = await browser.newPage({ ignoreHTTPSErrors: true });
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      const response = await page.goto('https://participer.ville-test.fr:18443/mentions-legales');
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe('Mentions légales – Ville-Test');
      const text = await page.locator('body').innerText();
      expect(text).toContain('Délégué à la protection des données');
      expect(text).toContain('Commune de Ville-Test');
      expect(text).toMatch(/Hébergement/);
      const shot = await page.screenshot({ path: join(SCREENSHOTS, 'mentions-legales.png'), fullPage: true });
      console.log(`screenshot: ${join(SCREENSHOTS, 'mentions-legales.png')}`);
      expect(shot.length).toBeGreaterThan(10_000);
      expect(requested.length).toBeGreaterThan(0);
      for (const url of requested) expect(new URL(url).hostname).toMatch(/\.ville-test\.fr$/);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
