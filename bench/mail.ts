// Mail benchmark, against the test MTA (Postfix + Dovecot + OpenDKIM playing the city's Zimbra,
// tests/engine/mta.ts) with the ville-courrier test city deployed with OpenTofu over SSH:
//   - `npm run mail -- check`, wall-clock seconds (SSH, a probe container, TLS, AUTH);
//   - one test message end to end: `npm run mail -- send-test --read-back` (sent through the
//     gateway, delivered, read back over IMAPS, audited);
//   - N messages (default 1000) sent as an app sends them, over C pooled SMTP connections from a
//     container on the stack's mail network through the gateway, in messages per second, against a
//     baseline: the same client and pool straight to the MTA from this machine, without the
//     container and the gateway (ratio).
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { $ } from 'zx';
import { UsageError, runCommand } from '../core/cli.js';
import { loadCity } from '../stacks/config/load.js';
import { DeployedCity } from '../tests/engine/deployed-city.js';
import { TEST_SECRETS } from '../tests/engine/test-city.js';
import { MTA, clearMailbox, dkimPublicKey, waitForMessages } from '../tests/engine/mta.js';
import { ROOT } from '../tests/helpers.js';
import setup from '../tests/engine/global-setup.js';
import { directRoute, routeThroughGateway, type RelayRoute } from '../services/mail-gateway/relay-route.js';
import { connectionOptions, type RelaySettings } from '../services/mail-gateway/relay-check.js';

const USAGE = `usage: npm run bench:mail [-- --messages N] [--connections C]
  --messages N      messages sent each way (default 1000)
  --connections C   pooled SMTP connections at once, as an app's mailer keeps (default 4)
  -h, --help        this help
Needs root on Debian (a Docker engine, the test host and the test MTA are set up as for the tests).
Exit status: 0, 2 on bad flags.`;

const DOMAIN = 'ville-courrier.fr';
const say = (l: string) => process.stderr.write(`${l}\n`);
const seconds = async (f: () => Promise<unknown>) => { const t = performance.now(); await f(); return (performance.now() - t) / 1000; };

async function blast(route: RelayRoute, relay: RelaySettings, messages: number, connections: number, to: string): Promise<number> {
  const transport = nodemailer.createTransport(connectionOptions(route, relay, { pool: true, maxConnections: connections, maxMessages: Infinity, auth: { user: relay.user, pass: relay.password } }) as nodemailer.TransportOptions);
  try {
    const t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (next < messages) {
        const n = next++;
        await transport.sendMail({ from: `ne-pas-repondre@${DOMAIN}`, to, subject: `Invitation ${n}`, text: `Message ${n} : votre avis sur les horaires scolaires.\n` });
      }
    }));
    return messages / ((performance.now() - t) / 1000);
  } finally {
    transport.close();
  }
}

async function main(): Promise<void> {
  let values: { messages?: string; connections?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { messages: { type: 'string' }, connections: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  const number = (flag: 'messages' | 'connections', fallback: number) => {
    const n = Number(values[flag] ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} expects a whole number above 0, got ${values[flag]}`);
    return n;
  };
  const messages = number('messages', 1000);
  const connections = number('connections', 4);
  await setup();
  const city = await DeployedCity.up('ville-courrier');
  const env = { ...process.env, ...TEST_SECRETS, SOCLE_IMAP_PASSWORD: TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD };
  const mail = (args: string[]) => $({ quiet: true, env })`${join(ROOT, 'node_modules/.bin/tsx')} ${join(ROOT, 'scripts/mail.ts')} ${args}`;
  try {
    const relay: RelaySettings = { host: `zimbra.${DOMAIN}`, port: 587, security: 'starttls', user: `socle@${DOMAIN}`, password: TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD, ca: readFileSync(MTA.caFile, 'utf8') };
    say('check: npm run mail -- check…');
    const checkS = await seconds(() => mail(['check', '--config', city.city.config]));
    say('one message end to end: npm run mail -- send-test --read-back…');
    // The DKIM key from the MTA, never from DNS: nothing leaves this machine.
    const record = join(mkdtempSync(join(tmpdir(), 'socle-bench-mail-')), 'dkim.txt');
    writeFileSync(record, dkimPublicKey(DOMAIN));
    const sendS = await seconds(() => mail(['send-test', '--config', city.city.config, '--to', `dsi@${DOMAIN}`, '--read-back', '--dkim-record', record]));
    const image = (await $({ quiet: true })`docker inspect --format {{.Image}} ${'ville-courrier-mail-gateway'}`).stdout.trim();
    const [host] = loadCity(city.city.config).hosts;
    const rates: Array<[string, number]> = [];
    for (const [label, open] of [
      ['direct to the MTA from this machine (baseline)', () => directRoute(MTA.address, 587, relay.host)],
      ['from a container on the mail network, through the gateway', () => routeThroughGateway({ ssh: host.ssh, hostName: host.name, slug: 'ville-courrier', relayHost: relay.host, relayPort: 587, image })],
    ] as const) {
      const to = `bench@${DOMAIN}`;
      await clearMailbox(to);
      say(`${messages} messages over ${connections} connections, ${label}…`);
      const route = await open();
      try {
        const rate = await blast(route, relay, messages, connections, to);
        await waitForMessages(to, messages, 300_000);
        rates.push([label, rate]);
      } finally {
        await route.close();
      }
      await clearMailbox(to);
    }
    console.log('mail, against the test MTA (Postfix + Dovecot + OpenDKIM), 2 cores');
    console.log(`npm run mail -- check: ${checkS.toFixed(1)} s`);
    console.log(`one test message end to end (sent, delivered, read back over IMAPS, audited): ${sendS.toFixed(1)} s`);
    console.log(`\n${messages} messages, ${connections} pooled connections, accepted by the relay`);
    for (const [label, rate] of rates) console.log(`${label.padEnd(62)}${rate.toFixed(1).padStart(8)} messages/s`);
    console.log(`through the gateway: ${(rates[1][1] / rates[0][1]).toFixed(2)} × the direct rate`);
  } finally {
    await city.down();
  }
}

void runCommand(main, USAGE);
