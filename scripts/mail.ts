#!/usr/bin/env -S node --import tsx
// scripts/mail.ts: the city's mail, proven. `check` connects to the relay the way an app does
// (from a container on the stack's mail network, through the mail gateway) and verifies TLS before
// any credential; `send-test` sends a message exactly as the apps do and, read back from the
// mailbox, audits the way it went; `verify` audits a message saved from a mailbox.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { InputError, StepError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { loadCity } from '../stacks/config/load.js';
import type { CityConfig, HostConfig } from '../stacks/config/types.js';
import { readSecret } from './lib/deploy.js';
import { runOnHost } from './lib/run.js';
import { mailGatewayNames, routeThroughGateway, type RelayRoute } from '../services/mail-gateway/relay-route.js';
import { checkRelay, connectionOptions, relayCheckText, type RelaySettings } from '../services/mail-gateway/relay-check.js';
import { auditMessage, headerFields, messageAuditText, type AuditPolicy } from '../services/mail-gateway/message-audit.js';
import { mailRecordFiles, mailRecords } from '../services/mail-gateway/records.js';

const USAGE = `usage: npm run mail -- <command> --config FILE [options]
commands:
  check       connect to the city's relay (mail.relay) as an app does: from a container on the
              stack's mail network, through the mail gateway; require TLS with a certificate valid
              for the relay's name before sending any credential; authenticate; report the banner,
              TLS version and cipher, the authentication and the size limit. Every host running a
              mail gateway is checked (--host NAME for one).
  send-test   send one message exactly as the apps do (sender mail.from, through the gateway)
              --to ADDRESS              the recipient (required)
              --read-back               read it back over IMAPS from the relay (mail.relay.address,
                                        checked as mail.relay.host) and audit it (as verify does)
              --imap-user USER          the mailbox's account (default: --to)
              --imap-password-env VAR   environment variable holding its password (default SOCLE_IMAP_PASSWORD)
              --imap-port N             (default 993)
              --save FILE               keep the message read back (never overwritten)
  records     the DNS records the city's mail team publishes for the sending domain (SPF, DKIM,
              DMARC, optional MTA-STS and TLS-RPT) and the Zimbra commands (zmprov, zmdkimkeyutil),
              each line explained in French and English; the synth writes the same files under
              cdktf.out/mail/<commune>/
              --out DIR                 write the files there (none overwritten) instead of printing them
  verify      audit a delivered message (a .eml saved with its full headers)
              --message FILE
  For send-test --read-back and verify:
              --dkim-record FILE        the DKIM TXT value Zimbra printed (zmdkimkeyutil), used
                                        instead of DNS before the record is published (then no DNS
                                        lookup is made)
  --json      the result as JSON on standard output
  -h, --help  this help (also: npm run mail -- <command> --help)
The audit: every Received hop is a city host (commune.owns.domains / owns.networks), From,
Return-Path and Message-ID are in the city's domains, the DKIM signature of the city's domain
verifies, and the link sent arrived unchanged (no click tracking).
exit status: 0 ok, 1 a check failed (the output says what to fix), 2 bad input`;

interface Args {
  config?: string; host?: string; to?: string; 'read-back'?: boolean; 'imap-user'?: string; 'imap-password-env'?: string; 'imap-port'?: string;
  save?: string; out?: string; message?: string; 'dkim-record'?: string; json?: boolean; help?: boolean;
}

function relaySettings(city: CityConfig, file: string): RelaySettings {
  const relay = city.mail.relay;
  const secret = readSecret(relay.password, process.env);
  if (secret.value === undefined) throw new InputError(`${file}: mail.relay.password (${secret.source}) has no value: ${secret.fix}`);
  return { host: relay.host, port: relay.port, security: relay.security, user: relay.user, password: secret.value, ca: relay.ca ? readFileSync(relay.ca, 'utf8') : undefined };
}

/** Hosts that run the city's mail gateway, with the image it runs (the probe runs the same). */
async function gatewayHosts(city: CityConfig, only: string | undefined, file: string): Promise<Array<{ host: HostConfig; image: string }>> {
  if (only && !city.hosts.some((h) => h.name === only)) throw new InputError(`--host ${only}: ${file} declares ${city.hosts.map((h) => h.name).join(', ')}`);
  const { container } = mailGatewayNames(city.commune.slug);
  const found = [];
  for (const host of city.hosts.filter((h) => !only || h.name === only)) {
    const r = await runOnHost(host.ssh, ['docker', 'inspect', '--format', '{{.Image}}', container]);
    if (r.code === 0) found.push({ host, image: r.stdout.trim() });
    else if (!/No such object/i.test(r.stderr)) {
      throw new StepError(`cannot reach the Docker engine of ${host.name} (ssh ${host.ssh.user}@${host.ssh.address}:${host.ssh.port}): ${r.stderr.trim().split('\n').pop()}; check the host's SSH settings in ${file}`);
    }
  }
  if (!found.length) throw new StepError(`no mail gateway (${container}) runs on ${only ?? 'any host of the city'}: deploy the stack first (npm run deploy -- --config ${file} --apply)`);
  return found;
}

async function withRoute<T>(city: CityConfig, target: { host: HostConfig; image: string }, use: (route: RelayRoute) => Promise<T>): Promise<T> {
  const route = await routeThroughGateway({ ssh: target.host.ssh, hostName: target.host.name, slug: city.commune.slug, relayHost: city.mail.relay.host, relayPort: city.mail.relay.port, image: target.image });
  try {
    return await use(route);
  } finally {
    await route.close();
  }
}

function auditPolicy(city: CityConfig, expectedLink: string | undefined, raw: string, dkimRecordFile: string | undefined): AuditPolicy {
  let dkimRecords: Record<string, string> | undefined;
  if (dkimRecordFile) {
    if (!existsSync(dkimRecordFile)) throw new InputError(`--dkim-record ${dkimRecordFile}: no such file`);
    // The TXT value as zmdkimkeyutil prints it, possibly split in quoted strings.
    const text = readFileSync(dkimRecordFile, 'utf8');
    const value = (text.match(/"[^"]*"/g)?.map((s) => s.slice(1, -1)).join('') ?? text).replace(/\s+/g, ' ').trim();
    if (!/p=/.test(value)) throw new InputError(`--dkim-record ${dkimRecordFile}: no "p=" public key in it; give the TXT value zmdkimkeyutil printed (v=DKIM1; k=rsa; p=...)`);
    dkimRecords = {};
    for (const [name, v] of headerFields(raw)) {
      if (name !== 'dkim-signature') continue;
      const d = v.match(/\bd=([^;\s]+)/)?.[1]; const s = v.match(/\bs=([^;\s]+)/)?.[1];
      if (d && s) dkimRecords[`${s}._domainkey.${d}`.toLowerCase()] = value;
    }
  }
  return { domains: city.commune.owns.domains, networks: city.commune.owns.networks, expectedLink, dkimRecords };
}

async function check(args: Args, file: string, city: CityConfig): Promise<void> {
  const relay = relaySettings(city, file);
  let failed = false;
  const results = [];
  for (const target of await gatewayHosts(city, args.host, file)) {
    console.error(`mail: checking ${relay.host}:${relay.port} from ${target.host.name} (a container on ${mailGatewayNames(city.commune.slug).network})…`);
    const r = await withRoute(city, target, (route) => checkRelay(route, relay));
    results.push({ host: target.host.name, ...r });
    if (!args.json) process.stdout.write(relayCheckText(r, relay));
    failed ||= !r.ok;
  }
  if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  if (failed) process.exitCode = 1;
}

async function readBack(city: CityConfig, args: Args, subject: string): Promise<string> {
  const relay = city.mail.relay;
  const user = args['imap-user'] ?? args.to!;
  const variable = args['imap-password-env'] ?? 'SOCLE_IMAP_PASSWORD';
  const pass = process.env[variable];
  if (!pass) throw new InputError(`--read-back: the password of ${user} is read from the environment variable ${variable}, which is empty: export ${variable}=... (or name another with --imap-password-env)`);
  const port = Number(args['imap-port'] ?? 993);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InputError(`--imap-port ${args['imap-port']}: a port number, such as 993`);
  const client = new ImapFlow({
    host: relay.address, port, secure: true, auth: { user, pass }, logger: false,
    tls: { servername: relay.host, rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(relay.ca ? { ca: readFileSync(relay.ca, 'utf8') } : {}) },
  });
  try {
    await client.connect();
  } catch (err) {
    throw new StepError(`IMAPS ${user}@${relay.host} (${relay.address}:${port}) failed: ${(err as Error).message}; check the account's password in ${variable} and that Zimbra's IMAPS port is reachable from this machine`);
  }
  try {
    const lock = await client.getMailboxLock('INBOX');
    try {
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        const uids = await client.search({ subject }, { uid: true });
        if (uids && uids.length) {
          const message = await client.fetchOne(String(uids[uids.length - 1]), { source: true }, { uid: true });
          if (message && message.source) return message.source.toString('utf8');
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
  throw new StepError(`the message "${subject}" did not reach ${user}'s INBOX within 90 s: look for it in Zimbra's queue (zmqstat, postqueue -p on the MTA) and its log (/var/log/zimbra.log)`);
}

async function sendTest(args: Args, file: string, city: CityConfig): Promise<void> {
  if (!args.to) throw new UsageError('send-test needs --to ADDRESS: the mailbox to send the test message to');
  if (!/^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(args.to)) throw new InputError(`--to ${args.to}: not an email address`);
  if (args.save && existsSync(args.save)) throw new InputError(`--save ${args.save} exists: it is never overwritten; choose another file`);
  const relay = relaySettings(city, file);
  const [target] = await gatewayHosts(city, args.host, file);
  const nonce = randomBytes(6).toString('hex');
  const subject = `[Socle ${city.commune.slug}] Message de vérification ${nonce}`;
  // A link on one of the city's own sites: it must arrive as it was written.
  const link = `https://${city.services.consultation.hostname}/socle-verification/${nonce}`;
  console.error(`mail: sending "${subject}" to ${args.to} from ${city.mail.from}, from ${target.host.name} through the gateway…`);
  const info = await withRoute(city, target, async (route) => {
    const transport = nodemailer.createTransport(connectionOptions(route, relay, { auth: { user: relay.user, pass: relay.password } }) as nodemailer.TransportOptions);
    try {
      return await transport.sendMail({
        from: { name: city.commune.name, address: city.mail.from }, to: args.to, subject,
        text: `Ce message vérifie que la commune ${city.commune.name} envoie ses courriels par son propre serveur.\nLien de contrôle (il doit arriver tel quel) : ${link}\n\nThis message checks that the city sends its mail through its own server. The link above must arrive unchanged.\n`,
      });
    } catch (err) {
      throw new StepError(`sending through ${relay.host} failed: ${(err as Error).message}; run npm run mail -- check --config ${file} to see which step fails`);
    } finally {
      transport.close();
    }
  });
  console.error(`mail: accepted by the relay (${info.response}), message ${info.messageId}`);
  if (!args['read-back']) {
    if (args.json) process.stdout.write(`${JSON.stringify({ sent: true, messageId: info.messageId, response: info.response, subject, link })}\n`);
    return;
  }
  const raw = await readBack(city, args, subject);
  if (args.save) writeFileSync(args.save, raw, { flag: 'wx', mode: 0o600 });
  await report(await auditMessage(raw, auditPolicy(city, link, raw, args['dkim-record'])), args, { messageId: info.messageId, subject });
}

async function report(audit: Awaited<ReturnType<typeof auditMessage>>, args: Args, extra: Record<string, unknown> = {}): Promise<void> {
  if (args.json) process.stdout.write(`${JSON.stringify({ ...extra, ...audit }, null, 2)}\n`);
  else process.stdout.write(messageAuditText(audit));
  if (!audit.ok) process.exitCode = 1;
}

async function verify(args: Args, city: CityConfig): Promise<void> {
  if (!args.message) throw new UsageError('verify needs --message FILE: a delivered message saved with its full headers (.eml)');
  if (!existsSync(args.message)) throw new InputError(`--message ${args.message}: no such file`);
  const raw = readFileSync(args.message, 'utf8');
  const link = raw.match(/https:\/\/[^\s/]+\/socle-verification\/[0-9a-f]+/)?.[0];
  await report(await auditMessage(raw, auditPolicy(city, link, raw, args['dkim-record'])), args);
}

function records(args: Args, city: CityConfig): void {
  const files = mailRecordFiles(mailRecords(city));
  if (!args.out) {
    for (const [name, content] of Object.entries(files)) process.stdout.write(`===== ${name}\n${content}${content.endsWith('\n') ? '' : '\n'}`);
    return;
  }
  const taken = Object.keys(files).filter((n) => existsSync(join(args.out!, n)));
  if (taken.length) throw new InputError(`--out ${args.out}: ${taken.join(', ')} already there; files are never overwritten: choose another directory or move them away`);
  mkdirSync(args.out, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(args.out, name), content, { flag: 'wx', mode: name.endsWith('.sh') ? 0o750 : 0o640 });
  console.error(`mail: ${Object.keys(files).join(', ')} written to ${args.out}`);
}

const COMMANDS = ['check', 'send-test', 'records', 'verify'] as const;

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === '-h' || command === '--help') {
    console.log(USAGE);
    return;
  }
  if (!command) throw new UsageError(`a command is required: ${COMMANDS.join(', ')}`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command "${command}"; commands: ${COMMANDS.join(', ')}`);
  const args = parseFlags<Args>({
    config: { type: 'string' }, host: { type: 'string' }, to: { type: 'string' }, 'read-back': { type: 'boolean' },
    'imap-user': { type: 'string' }, 'imap-password-env': { type: 'string' }, 'imap-port': { type: 'string' }, save: { type: 'string' },
    message: { type: 'string' }, out: { type: 'string' }, 'dkim-record': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  }, rest);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config is required: the city file');
  const city = loadCity(args.config);
  if (command === 'check') await check(args, args.config, city);
  else if (command === 'send-test') await sendTest(args, args.config, city);
  else if (command === 'records') records(args, city);
  else await verify(args, city);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runCommand(main, USAGE);
