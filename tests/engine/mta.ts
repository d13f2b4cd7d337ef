// The city's Zimbra as the engine tests meet it: a real MTA (Postfix, Dovecot, OpenDKIM from
// Debian, image tests/engine/mta/) that a test city's mail.relay can name. It runs in a container
// with no Docker network at all (`--network none`); its only link is a veth pair to this machine,
// so nothing from Docker's bridges reaches it except through the host's routing (and so through
// the host firewall, as a city's Zimbra is reached through the mail gateway), and it reaches
// nothing: no mail ever leaves.
//
//   198.18.0.16/28 on the veth pair; this machine's side socle-mta0 is 198.18.0.17.
//   198.18.0.18  the normal relay: 587 STARTTLS (required before AUTH) + SASL, 465 implicit TLS,
//                993 IMAPS.
//   198.18.0.19  587 offers AUTH PLAIN LOGIN in the clear and no STARTTLS: a client must refuse to
//                send its credentials. cleartextSessions() gives its disconnect log lines, whose
//                command counts say whether AUTH was attempted (`auth=...`).
//   198.18.0.20  587 (and 465) with a certificate valid for mail.ailleurs.example only, signed by
//                the same CA: a client that checks the name refuses it.
//   198.18.0.21  like .18 (587, 465, 993), and setRelayUp(false) makes it reset every connection
//                (a firewall rule in the container's namespace); setRelayUp(true) brings it back.
//                One test file at a time should use it.
//   198.18.0.22  like .18 (587, 465), but every message it accepts carries one more Received
//                header, above the relay's own: "Received: from smtp.relais-tiers.example
//                (smtp.relais-tiers.example [203.0.113.25]) by mx.relais-tiers.example ...".
//
// TLS: MTA.caFile, a CA made once per test host (stable across workers and runs), signs the
// relay's certificate for zimbra.<domain> of every MTA_DOMAINS entry. Clients connect to an
// address and name the relay with `servername`.
// Accounts (password TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD for all):
//   - SMTP AUTH: socle@<domain> only. It may send as socle@<domain> and ne-pas-repondre@<domain>
//     (Zimbra's zimbraAllowFromAddress); any other sender is refused (553, sender login mismatch).
//   - Recipients: any local part of MTA_DOMAINS is delivered to its own Maildir; every other
//     domain is refused (554 Relay access denied), authenticated or not.
//   - IMAPS: any <local>@<domain> of MTA_DOMAINS logs in and reads its own mailbox.
// DKIM: OpenDKIM signs mail from MTA_DOMAINS, selector MTA.dkimSelector (keys made once per test
// host); dkimPublicKey(domain) is the TXT record a resolver would return.
// The city relay names itself zimbra.<recipient's domain> in the Received header it adds (when
// the message has one recipient; zimbra.socle-test.invalid otherwise, and in its banner).
//
// API:
//   MTA, MTA_DOMAINS
//   ensureMta(): builds the image, (re)creates the container and the veth pair when missing or
//     changed, waits until every listener answers, and sets .21 up. Idempotent; called by the
//     global setup (tests should not call it while others run: it brings .21 back up).
//   setRelayUp(up), messagesFor(mailbox), waitForMessages(mailbox, count?, timeoutMs?),
//   clearMailbox(mailbox), mtaLog(), cleartextSessions(), dkimPublicKey(domain),
//   relayedMessageProblems(raw, domain): what is wrong with a message a Socle container sent.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { $ } from 'zx';
import { imageReference } from '../../services/common/images.js';
import { BUILD_REGISTRY } from './test-host.js';
import { TEST_SECRETS } from './test-city.js';
import { auditMessage } from '../../services/mail-gateway/message-audit.js';

export const MTA = {
  network: '198.18.0.16/28',
  hostAddress: '198.18.0.17',
  address: '198.18.0.18',
  noStartTlsAddress: '198.18.0.19',
  wrongNameAddress: '198.18.0.20',
  switchableAddress: '198.18.0.21',
  foreignHopAddress: '198.18.0.22',
  /** The test CA that signs the MTA's certificates. */
  caFile: '/var/lib/socle-test-host/mta/ca.pem',
  dkimSelector: 'socle-test',
  /** The name the wrong-name certificate (on wrongNameAddress) is valid for. */
  wrongName: 'mail.ailleurs.example',
  /** The relay's own name in its banner (and in Received headers of messages with several recipients). */
  hostname: 'zimbra.socle-test.invalid',
} as const;

/** The test cities' mail domains; the relay certificate names zimbra.<each>. */
export const MTA_DOMAINS = ['ville-test.fr', 'ville-enquete.fr', 'ville-audience.fr', 'ville-sauvegarde.fr', 'ville-courrier.fr'] as const;

const MTA_CONTAINER = 'socle-test-mta';
const IMAGE = 'socle-test-mta:latest';
const DIR = '/var/lib/socle-test-host/mta';
/** Mounted read-only at /srv/mta: accounts, maps, keys and certificates. */
const CONF = join(DIR, 'conf');
/** Mounted at /var/mail/vhosts: <domain>/<local part>/Maildir. */
const MAIL = join(DIR, 'mail');
const HOST_LINK = 'socle-mta0';
const PEER_LINK = 'socle-mta1';
const PREFIX = 28;
const CONTAINER_ADDRESSES = [MTA.address, MTA.noStartTlsAddress, MTA.wrongNameAddress, MTA.switchableAddress, MTA.foreignHopAddress];
/** Every listener, by address: what ensureMta waits for. */
const LISTENERS: readonly [string, number][] = [
  [MTA.address, 587], [MTA.address, 465], [MTA.address, 993],
  [MTA.noStartTlsAddress, 587],
  [MTA.wrongNameAddress, 587], [MTA.wrongNameAddress, 465],
  [MTA.switchableAddress, 587], [MTA.switchableAddress, 465], [MTA.switchableAddress, 993],
  [MTA.foreignHopAddress, 587], [MTA.foreignHopAddress, 465],
];
/** nft table (in the container's network namespace) that takes the switchable relay down. */
const SWITCH_TABLE = 'socle_mta_switch';
const CONFIG_LABEL = 'fr.socle.test.mta-config';

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });

/** Writes a file only when its content differs (the config hash decides whether to recreate). */
function put(file: string, content: string | Buffer, mode = 0o644): void {
  if (existsSync(file) && readFileSync(file).equals(Buffer.from(content))) return;
  writeFileSync(file, content, { mode });
}

/** Dovecot's {SSHA256}: salted SHA-256. The salt is fixed per domain so the files stay stable. */
function passwordHash(password: string, saltOf: string): string {
  const salt = createHash('sha256').update(`socle-test-mta:${saltOf}`).digest().subarray(0, 8);
  return `{SSHA256}${Buffer.concat([createHash('sha256').update(password).update(salt).digest(), salt]).toString('base64')}`;
}

async function certificateValid(file: string): Promise<boolean> {
  return existsSync(file) && (await qn`openssl x509 -checkend ${30 * 86400} -noout -in ${file}`).exitCode === 0;
}

/** The CA (kept while valid) and the two server certificates (remade when their names change). */
async function ensureCertificates(): Promise<void> {
  const tls = join(CONF, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  const caKey = join(DIR, 'ca.key');
  let caMade = false;
  if (!(await certificateValid(MTA.caFile)) || !existsSync(caKey)) {
    await q`openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj ${'/O=Socle tests/CN=Socle test relay CA'} -keyout ${caKey} -out ${MTA.caFile}`;
    await q`chmod 0600 ${caKey}`;
    await q`chmod 0644 ${MTA.caFile}`;
    caMade = true;
  }
  const leaves = { relay: MTA_DOMAINS.map((d) => `zimbra.${d}`), 'wrong-name': [MTA.wrongName] };
  for (const [name, names] of Object.entries(leaves)) {
    const cert = join(tls, `${name}.pem`);
    const key = join(tls, `${name}.key`);
    const namesFile = join(tls, `${name}.names`);
    const wanted = `${names.join('\n')}\n`;
    if (!caMade && existsSync(key) && (await certificateValid(cert)) && existsSync(namesFile) && readFileSync(namesFile, 'utf8') === wanted) continue;
    const csr = join(tls, `${name}.csr`);
    const ext = join(tls, `${name}.ext`);
    writeFileSync(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n`);
    await q`openssl req -newkey rsa:2048 -nodes -subj ${`/CN=${names[0]}`} -keyout ${key} -out ${csr}`;
    await q`openssl x509 -req -in ${csr} -CA ${MTA.caFile} -CAkey ${caKey} -set_serial ${`0x${randomBytes(8).toString('hex')}`} -days 825 -extfile ${ext} -out ${cert}`;
    await q`chmod 0600 ${key}`;
    rmSync(csr);
    rmSync(ext);
    writeFileSync(namesFile, wanted);
  }
}

/** Accounts, maps and DKIM keys under CONF (mounted at /srv/mta). */
function ensureAccounts(): void {
  const password = TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD;
  put(join(CONF, 'domains'), MTA_DOMAINS.map((d) => `${d}\n`).join(''));
  put(join(CONF, 'accounts'), MTA_DOMAINS.map((d) => `socle@${d}:${passwordHash(password, `socle@${d}`)}\n`).join(''));
  put(join(CONF, 'mailbox-domains.imap'), MTA_DOMAINS.map((d) => `${d}:${passwordHash(password, d)}\n`).join(''));
  put(join(CONF, 'mailbox-domains.smtp'), '');
  put(join(CONF, 'sender-logins'), MTA_DOMAINS.flatMap((d) => [`socle@${d} socle@${d}`, `ne-pas-repondre@${d} socle@${d}`]).join('\n') + '\n');
  const dkim = join(CONF, 'dkim');
  mkdirSync(dkim, { recursive: true, mode: 0o700 });
  for (const d of MTA_DOMAINS) {
    const key = join(dkim, `${d}.private`);
    if (!existsSync(key)) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      writeFileSync(key, privateKey, { mode: 0o600 });
    }
  }
  put(join(CONF, 'signing.table'), MTA_DOMAINS.map((d) => `*@${d} ${MTA.dkimSelector}._domainkey.${d}\n`).join(''));
  put(join(CONF, 'key.table'), MTA_DOMAINS.map((d) => `${MTA.dkimSelector}._domainkey.${d} ${d}:${MTA.dkimSelector}:/etc/opendkim/keys/${d}.private\n`).join(''));
}

/** A digest of everything mounted: a change recreates the container. */
function configDigest(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const p = join(dir, entry);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(CONF);
  return h.digest('hex').slice(0, 16);
}

async function containerPid(): Promise<number> {
  const r = await qn`docker inspect --format ${'{{.State.Running}} {{.State.Pid}}'} ${MTA_CONTAINER}`;
  const [running, pid] = r.stdout.trim().split(' ');
  if (r.exitCode !== 0 || running !== 'true' || !Number(pid)) throw new Error(`the test MTA (container ${MTA_CONTAINER}) is not running: ensureMta() (the engine global setup) starts it; docker logs ${MTA_CONTAINER} says why it stopped`);
  return Number(pid);
}

/** Runs a command in the MTA's network namespace, with this machine's tools. */
function inMtaNetwork(pid: number, ...command: string[]) {
  return qn`nsenter --target ${pid} --net ${command}`;
}

async function networkReady(pid: number): Promise<boolean> {
  const host = await qn`ip -o -4 addr show dev ${HOST_LINK} up`;
  if (host.exitCode !== 0 || !host.stdout.includes(`${MTA.hostAddress}/${PREFIX}`)) return false;
  const inside = await inMtaNetwork(pid, 'ip', '-o', '-4', 'addr', 'show', 'dev', PEER_LINK, 'up');
  return inside.exitCode === 0 && CONTAINER_ADDRESSES.every((a) => inside.stdout.includes(`${a}/${PREFIX}`));
}

/** The veth pair: this machine's side gets .17, the container's side .18 to .22. */
async function ensureNetwork(pid: number): Promise<void> {
  if (await networkReady(pid)) return;
  // A stale host side (its peer in a container that is gone, or half made) goes first.
  await qn`ip link del ${HOST_LINK}`;
  await q`ip link add ${HOST_LINK} type veth peer name ${PEER_LINK}`;
  await q`ip link set ${PEER_LINK} netns ${pid}`;
  await q`ip addr add ${`${MTA.hostAddress}/${PREFIX}`} dev ${HOST_LINK}`;
  await q`ip link set ${HOST_LINK} up`;
  for (const a of CONTAINER_ADDRESSES) {
    const r = await inMtaNetwork(pid, 'ip', 'addr', 'add', `${a}/${PREFIX}`, 'dev', PEER_LINK);
    if (r.exitCode !== 0) throw new Error(`could not give ${a} to the test MTA: ${r.stderr.trim()}`);
  }
  const up = await inMtaNetwork(pid, 'ip', 'link', 'set', PEER_LINK, 'up');
  if (up.exitCode !== 0) throw new Error(`could not bring the test MTA's link up: ${up.stderr.trim()}`);
  if (!(await networkReady(pid))) throw new Error(`the test MTA's veth pair (${HOST_LINK}) is not as set: see ip addr show ${HOST_LINK}`);
}

/** Does address:port accept a TCP connection within a second? */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port }, () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
  });
}

async function waitListening(listeners: readonly [string, number][], seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let waiting = [...listeners];
  while (waiting.length) {
    const answered = await Promise.all(waiting.map(([h, p]) => accepts(h, p)));
    waiting = waiting.filter((_, i) => !answered[i]);
    if (!waiting.length) return;
    if (Date.now() > deadline) {
      throw new Error(`the test MTA does not listen on ${waiting.map(([h, p]) => `${h}:${p}`).join(', ')} after ${seconds} s: docker logs ${MTA_CONTAINER}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

export async function ensureMta(): Promise<void> {
  mkdirSync(CONF, { recursive: true, mode: 0o755 });
  mkdirSync(MAIL, { recursive: true, mode: 0o755 });
  await ensureCertificates();
  ensureAccounts();
  const digest = configDigest();
  const base = imageReference('base', BUILD_REGISTRY, {});
  const build = await qn`docker build --quiet --build-arg ${`BASE=${base}`} --tag ${IMAGE} ${join(import.meta.dirname, 'mta')}`;
  if (build.exitCode !== 0) throw new Error(`the test MTA image (tests/engine/mta/Dockerfile) did not build:\n${build.stderr.trim()}`);
  const image = (await q`docker image inspect --format ${'{{.Id}}'} ${IMAGE}`).stdout.trim();
  const current = await qn`docker inspect --format ${`{{.State.Running}} {{.Image}} {{index .Config.Labels "${CONFIG_LABEL}"}}`} ${MTA_CONTAINER}`;
  if (current.exitCode !== 0 || current.stdout.trim() !== `true ${image} ${digest}`) {
    await qn`docker rm --force ${MTA_CONTAINER}`;
    const options = [
      '--network', 'none', '--init', '--hostname', MTA.hostname, '--memory', '256m',
      // Its addresses arrive on the veth pair after the services start: let them bind already.
      '--sysctl', 'net.ipv4.ip_nonlocal_bind=1',
      '--label', 'fr.socle.test=mta', '--label', `${CONFIG_LABEL}=${digest}`,
      '--mount', `type=bind,src=${CONF},dst=/srv/mta,readonly`, '--mount', `type=bind,src=${MAIL},dst=/var/mail/vhosts`,
    ];
    await q`docker run --detach --name ${MTA_CONTAINER} ${options} ${IMAGE}`;
  }
  const pid = await containerPid();
  await ensureNetwork(pid);
  // A suite starts with the switchable relay up, whatever a previous run left.
  await setRelayUp(true);
  await waitListening(LISTENERS);
}

/** Takes the switchable relay (MTA.switchableAddress) down (every connection reset) or back up. */
export async function setRelayUp(up: boolean): Promise<void> {
  const pid = await containerPid();
  const rules = [`table inet ${SWITCH_TABLE}`, `delete table inet ${SWITCH_TABLE}`];
  if (!up) {
    rules.push(`table inet ${SWITCH_TABLE} {`, '  chain input {', '    type filter hook input priority filter; policy accept;',
      `    ip daddr ${MTA.switchableAddress} meta l4proto tcp reject with tcp reset`, '  }', '}');
  }
  const r = await $({ quiet: true, nothrow: true, input: `${rules.join('\n')}\n` })`nsenter --target ${pid} --net nft -f -`;
  if (r.exitCode !== 0) throw new Error(`could not ${up ? 'bring up' : 'take down'} the switchable relay: ${r.stderr.trim()}`);
  if (up) await waitListening([[MTA.switchableAddress, 587], [MTA.switchableAddress, 465], [MTA.switchableAddress, 993]], 10);
}

function maildir(mailbox: string): string {
  const m = /^([^@/\s]+)@([^@/\s]+)$/.exec(mailbox.toLowerCase());
  if (!m || !(MTA_DOMAINS as readonly string[]).includes(m[2])) throw new Error(`${mailbox}: not a mailbox of the test MTA (an address in ${MTA_DOMAINS.join(', ')})`);
  return join(MAIL, m[2], m[1], 'Maildir');
}

/** Raw RFC 822 messages delivered to that address, oldest first (none yet: []). */
export async function messagesFor(mailbox: string): Promise<string[]> {
  const dir = maildir(mailbox);
  const files = ['new', 'cur'].flatMap((sub) => {
    const d = join(dir, sub);
    return existsSync(d) ? readdirSync(d).map((f) => join(d, f)) : [];
  });
  // Maildir names start with the delivery time (seconds) and a counter: order by that.
  const order = (f: string) => f.split('/').pop()!;
  return files.sort((a, b) => order(a).localeCompare(order(b), 'en', { numeric: true })).map((f) => readFileSync(f, 'utf8'));
}

/** Waits until the mailbox holds at least `count` messages (delivery follows acceptance by a moment). */
export async function waitForMessages(mailbox: string, count = 1, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await messagesFor(mailbox);
    if (messages.length >= count) return messages;
    if (Date.now() > deadline) throw new Error(`${mailbox} holds ${messages.length} message(s) after ${timeoutMs / 1000} s, ${count} expected: see mtaLog()`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Empties that mailbox. */
export async function clearMailbox(mailbox: string): Promise<void> {
  const dir = maildir(mailbox);
  for (const sub of ['new', 'cur', 'tmp']) {
    const d = join(dir, sub);
    if (existsSync(d)) for (const f of readdirSync(d)) rmSync(join(d, f), { force: true });
  }
}

/** Postfix's and Dovecot's log lines since the container started (docker logs, both streams, in order). */
export async function mtaLog(): Promise<string> {
  const r = await q`docker logs --timestamps ${MTA_CONTAINER}`;
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter(Boolean);
  return lines.sort().map((l) => l.replace(/^\S+ /, '')).join('\n') + '\n';
}

/**
 * The cleartext relay's (MTA.noStartTlsAddress) sessions, one log line each when it ended:
 * "... postfix/cleartext/smtpd[n]: disconnect from ... ehlo=1 quit=1 commands=2". A session that
 * tried AUTH has `auth=` among its command counts.
 */
export async function cleartextSessions(): Promise<string[]> {
  return (await mtaLog()).split('\n').filter((l) => /postfix\/cleartext\/smtpd\[\d+\]: disconnect from /.test(l));
}

/** The DKIM TXT record for <MTA.dkimSelector>._domainkey.<domain>: "v=DKIM1; k=rsa; p=...". */
export function dkimPublicKey(domain: string): string {
  const key = join(CONF, 'dkim', `${domain}.private`);
  if (!existsSync(key)) throw new Error(`no DKIM key for ${domain} on the test MTA (domains: ${MTA_DOMAINS.join(', ')}; ensureMta() makes them)`);
  const p = createPublicKey(readFileSync(key)).export({ type: 'spki', format: 'der' }).toString('base64');
  return `v=DKIM1; k=rsa; p=${p}`;
}

/**
 * What is wrong with a message a Socle container sent through its mail gateway to this MTA, as the
 * city's Zimbra would see it: it came from this machine's side of the veth pair (the gateway's
 * route), authenticated over TLS (ESMTPSA), with the sender's Return-Path, and it passes the
 * message audit (city hops, city names, the relay's DKIM signature; no DNS lookup). [] when nothing.
 */
export async function relayedMessageProblems(raw: string, domain: string, sender = `ne-pas-repondre@${domain}`): Promise<string[]> {
  const problems: string[] = [];
  if (!new RegExp(`^Return-Path: <${sender.replace(/[.+]/g, '\\$&')}>`, 'm').test(raw)) problems.push(`Return-Path is not <${sender}>`);
  if (!new RegExp(`Received: from \\S+ \\([^)]*\\[${MTA.hostAddress.replace(/\./g, '\\.')}\\]\\)[\\s\\S]*?with ESMTPSA`).test(raw)) {
    problems.push(`no Received hop from ${MTA.hostAddress} (the gateway's route) with ESMTPSA (TLS and authentication)`);
  }
  const audit = await auditMessage(raw, { domains: [domain], networks: ['127.0.0.0/8', '198.18.0.0/15'], dkimRecords: { [`${MTA.dkimSelector}._domainkey.${domain}`]: dkimPublicKey(domain) } });
  problems.push(...audit.findings.filter((f) => !f.ok).map((f) => `${f.check}: ${f.detail}`));
  return problems;
}
