// The city's mail, proven against a real MTA (tests/engine/mta.ts: Postfix with Dovecot's SASL and
// OpenDKIM, playing the city's Zimbra): `npm run mail -- check` and `send-test` take the route an
// app takes (a container on the stack's mail network, through the gateway), and the relay check
// refuses what it must, before any credential leaves: no STARTTLS, a certificate for another name,
// a wrong password. The message audit flags a hop through a relay outside the city.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { $ } from 'zx';
import { DeployedCity } from './deployed-city.js';
import { TEST_SECRETS } from './test-city.js';
import { MTA, cleartextSessions, clearMailbox, dkimPublicKey, waitForMessages } from './mta.js';
import { ROOT } from '../helpers.js';
import { startResolver, type TestResolver } from './dns.js';
import { directRoute } from '../../services/mail-gateway/relay-route.js';
import { checkRelay, connectionOptions, type RelaySettings } from '../../services/mail-gateway/relay-check.js';
import { auditMessage } from '../../services/mail-gateway/message-audit.js';

const TSX = join(ROOT, 'node_modules/.bin/tsx');
const DOMAIN = 'ville-courrier.fr';
const RELAY_HOST = `zimbra.${DOMAIN}`;
const ALERTS = `dsi@${DOMAIN}`;
const relay = (extra: Partial<RelaySettings> = {}): RelaySettings => ({
  host: RELAY_HOST, port: 587, security: 'starttls', user: `socle@${DOMAIN}`, password: TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD, ca: readFileSync(MTA.caFile, 'utf8'), ...extra,
});
let city: DeployedCity;
const mail = (args: string[], env: Record<string, string> = {}) =>
  $({ quiet: true, nothrow: true, env: { ...process.env, ...TEST_SECRETS, ...env } })`${TSX} ${join(ROOT, 'scripts/mail.ts')} ${args}`;

beforeAll(async () => {
  city = await DeployedCity.up('ville-courrier');
  await clearMailbox(ALERTS);
}, 900_000);

afterAll(async () => {
  if (process.env.SOCLE_TEST_KEEP) return;
  await city?.down();
});

describe('npm run mail, through the gateway, to a real MTA', () => {
  it('checks the relay the way an app reaches it: TLS for the relay\'s name before the password, then authentication', async () => {
    const r = await mail(['check', '--config', city.city.config]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/from a container on ville-courrier-mail \(the apps' network\) on serveur-courrier, through the mail gateway/);
    expect(r.stdout).toMatch(/banner {7}\S+ ESMTP/);
    expect(r.stdout).toMatch(/TLS {10}TLSv1\.[23], \S+/);
    expect(r.stdout).toMatch(new RegExp(`certificate .*${RELAY_HOST.replace(/\./g, '\\.')}`));
    expect(r.stdout).toMatch(/size limit {3}10\.0 MiB \(10485760 bytes\)/);
    expect(r.stdout).toMatch(/auth {9}socle@ville-courrier\.fr: accepted/);
    // The secret is used, never shown.
    expect(r.stdout + r.stderr).not.toContain(TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD);
    const json = JSON.parse((await mail(['check', '--config', city.city.config, '--json'])).stdout);
    expect(json).toMatchObject([{ host: 'serveur-courrier', ok: true, auth: { accepted: true }, sizeLimitBytes: 10485760 }]);
  }, 120_000);

  it('sends a message as the apps do, reads it back over IMAPS and proves its way: city hops, city names, DKIM, the link unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'socle-mail-'));
    const record = join(dir, 'dkim.txt');
    writeFileSync(record, `${MTA.dkimSelector}._domainkey IN TXT ( "${dkimPublicKey(DOMAIN)}" )\n`);
    const saved = join(dir, 'message.eml');
    const r = await mail(['send-test', '--config', city.city.config, '--to', ALERTS, '--read-back', '--dkim-record', record, '--save', saved],
      { SOCLE_IMAP_PASSWORD: TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const check of ['received', 'from', 'return-path', 'message-id', 'dkim', 'link']) expect(r.stdout).toMatch(new RegExp(`ok {5}${check}`));
    expect(r.stdout).toMatch(/DKIM pass for d=ville-courrier\.fr s=socle-test/);
    const raw = readFileSync(saved, 'utf8');
    expect(raw).toMatch(/^Return-Path: <ne-pas-repondre@ville-courrier\.fr>/m);
    expect(raw).toMatch(/^Message-ID: <[^>]+@ville-courrier\.fr>/im);
    // It arrived through the gateway: the relay saw the Socle host's address, not this test's.
    expect(raw).toMatch(new RegExp(`Received: from \\S+ \\([^)]*\\[${MTA.hostAddress.replace(/\./g, '\\.')}\\]\\)`));
    // A --dkim-record file that holds no key is refused before the audit (exit 2): no DNS lookup.
    const unverified = await mail(['verify', '--config', city.city.config, '--message', saved, '--dkim-record', join(ROOT, 'tests/fixtures/encodings/ville-utf8-bom.yaml')]);
    expect(unverified.exitCode).toBe(2);
    expect(unverified.stderr).toMatch(/no "p=" public key/);
  }, 180_000);

  it('flags a message that went through a relay outside the city', async () => {
    // The MTA's foreign-hop listener adds a Received hop through smtp.relais-tiers.example.
    const route = await directRoute(MTA.foreignHopAddress, 587, RELAY_HOST);
    try {
      const transport = nodemailer.createTransport(connectionOptions(route, relay(), { auth: { user: `socle@${DOMAIN}`, pass: TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD } }) as nodemailer.TransportOptions);
      await transport.sendMail({ from: `ne-pas-repondre@${DOMAIN}`, to: `tiers@${DOMAIN}`, subject: 'Essai de saut tiers', text: 'essai' });
      transport.close();
    } finally {
      await route.close();
    }
    const [raw] = await waitForMessages(`tiers@${DOMAIN}`);
    const file = join(mkdtempSync(join(tmpdir(), 'socle-mail-')), 'tiers.eml');
    writeFileSync(file, raw);
    const r = await mail(['verify', '--config', city.city.config, '--message', file, '--dkim-record', await dkimFile()]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED received {5}1 of \d+ hops are not city hosts: from smtp\.relais-tiers\.example \[203\.0\.113\.25\] by mx\.relais-tiers\.example/);
    // The rest of the message is the city's: only the hop is wrong.
    const audit = await auditMessage(raw, { domains: [DOMAIN], networks: ['198.18.0.0/15'], dkimRecords: { [`${MTA.dkimSelector}._domainkey.${DOMAIN}`]: dkimPublicKey(DOMAIN) } });
    expect(audit.findings.filter((f) => !f.ok).map((f) => f.check)).toEqual(['received']);
    await clearMailbox(`tiers@${DOMAIN}`);
  }, 120_000);
});

async function dkimFile(): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'socle-dkim-')), 'dkim.txt');
  writeFileSync(file, dkimPublicKey(DOMAIN));
  return file;
}

describe('the auditor\'s report (npm run audit --live --mail)', () => {
  // Only the relay is observed: the resolver the test makes knows the city's zone and no name in
  // it, so nothing else is probed or crawled.
  let resolver: TestResolver | undefined;
  afterAll(() => resolver?.stop());
  const audit = async (env: Record<string, string> = {}) => {
    resolver ??= startResolver(15354, { zones: [DOMAIN] });
    const out = join(mkdtempSync(join(tmpdir(), 'socle-audit-mail-')), 'rapport');
    await $({ quiet: true, nothrow: true, env: { ...process.env, ...TEST_SECRETS, ...env } })`${TSX} ${join(ROOT, 'scripts/audit.ts')} --config ${city.city.config} --out ${out} --live --dns ${resolver.address} --mail`;
    return JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).checks.find((c: { id: string }) => c.id === 'AUD-LIVE-MAIL');
  };

  it('passes AUD-LIVE-MAIL with the relay as npm run mail -- check finds it, and fails it on a refused password, with the fix', async () => {
    const ok = await audit();
    expect(ok.status, ok.evidence.join('\n')).toBe('pass');
    expect(ok.evidence).toEqual([expect.stringMatching(/^serveur-courrier : from a container on ville-courrier-mail .* ; TLSv1\.[23] \S+, certificat \[[^\]]*zimbra\.ville-courrier\.fr[^\]]*\] de .* ; compte socle@ville-courrier\.fr accepté$/)]);
    const refused = await audit({ SOCLE_TEST_SMTP_PASSWORD: 'pas-le-bon-mot-de-passe' });
    expect(refused.status).toBe('fail');
    expect(refused.evidence).toEqual([expect.stringMatching(/^ÉCHEC : serveur-courrier : échec à l’étape auth : authentication of socle@ville-courrier\.fr failed: .* ; correction : the relay refused socle@ville-courrier\.fr's password/)]);
    expect(JSON.stringify([ok, refused])).not.toContain(TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD);
  }, 240_000);
});

describe('the relay check refuses before any credential leaves', () => {
  const checkAt = async (address: string, settings: RelaySettings = relay()) => {
    const route = await directRoute(address, settings.port, RELAY_HOST);
    try {
      return await checkRelay(route, settings);
    } finally {
      await route.close();
    }
  };

  it('fails on a relay without STARTTLS, and the password is never sent', async () => {
    const before = (await cleartextSessions()).length;
    const r = await checkAt(MTA.noStartTlsAddress);
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ step: 'tls' });
    expect(r.failure!.fix).toMatch(/offers no STARTTLS on port 587, so the password was not sent/);
    // Postfix logs the session when it ends: wait for its line.
    let sessions: string[] = [];
    for (let i = 0; i < 30 && sessions.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 500));
      sessions = (await cleartextSessions()).slice(before);
    }
    expect(sessions.length).toBeGreaterThan(0);
    for (const s of sessions) expect(s).not.toMatch(/auth=/);
  });

  it('fails on a certificate for another name', async () => {
    const r = await checkAt(MTA.wrongNameAddress);
    expect(r.failure).toMatchObject({ step: 'tls' });
    expect(r.failure!.fix).toMatch(/not valid for zimbra\.ville-courrier\.fr/);
    expect(r.auth).toBeUndefined();
  });

  it('fails on a wrong password, naming the account', async () => {
    const r = await checkAt(MTA.address, relay({ password: 'pas-le-bon-mot-de-passe' }));
    expect(r.failure).toMatchObject({ step: 'auth' });
    expect(r.failure!.message).toMatch(/authentication of socle@ville-courrier\.fr failed/);
    expect(r.failure!.fix).toMatch(/refused socle@ville-courrier\.fr's password/);
    expect(r.tls?.version).toMatch(/^TLSv1\.[23]$/);
  });

  it('fails on a relay that does not answer, saying what to check', async () => {
    // A port nothing listens on (the switchable listener belongs to the backup alert tests).
    const r = await checkAt(MTA.address, relay({ port: 2525 }));
    expect(r.failure).toMatchObject({ step: 'connect' });
    expect(r.failure!.fix).toMatch(/mail gateway healthy/);
  });

  it('takes implicit TLS on 465 as well', async () => {
    const r = await checkAt(MTA.address, relay({ port: 465, security: 'tls' }));
    expect(r.ok, JSON.stringify(r.failure)).toBe(true);
  });
});
