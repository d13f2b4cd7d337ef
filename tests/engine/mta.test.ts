// The test MTA (tests/engine/mta.ts) proved on its own, before any stack names it as its relay:
// nodemailer on this machine talks to it over the veth pair, exactly as the mail gateway's
// forwarded connections will.
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { MTA, MTA_DOMAINS, cleartextSessions, clearMailbox, dkimPublicKey, messagesFor, mtaLog, setRelayUp, waitForMessages } from './mta.js';
import { TEST_SECRETS } from './test-city.js';
import { dkimVerify } from '../../services/mail-gateway/message-audit.js';

// mailauth's entry point loads its BIMI module, whose undici needs a newer Node than 20: take the
// DKIM verifier alone.
const PASSWORD = TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD;
const ca = readFileSync(MTA.caFile);
/** A mailbox of its own for each test (other files may share the domain's usual ones), emptied afterwards. */
const used: string[] = [];
const mailbox = (what: string) => {
  const address = `mta-${what}-${randomBytes(3).toString('hex')}@ville-test.fr`;
  used.push(address);
  return address;
};
afterAll(async () => {
  for (const m of used) await clearMailbox(m);
});

function transport(options: { host?: string; port?: number; secure?: boolean; user?: string; pass?: string; servername?: string; requireTLS?: boolean } = {}) {
  const port = options.port ?? 587;
  return nodemailer.createTransport({
    host: options.host ?? MTA.address, port, secure: options.secure ?? port === 465, requireTLS: options.requireTLS ?? port === 587,
    auth: { user: options.user ?? 'socle@ville-test.fr', pass: options.pass ?? PASSWORD },
    tls: { servername: options.servername ?? 'zimbra.ville-test.fr', ca },
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000,
  });
}

const header = (message: string, name: string) => message.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/).filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure, got a success');
}

/** A line-based conversation with a server: send lines, read until a line matches. */
class Conversation {
  private buffer = '';
  constructor(readonly socket: Socket | TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { this.buffer += d; });
  }
  async until(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.buffer)) {
      if (Date.now() > deadline || this.socket.destroyed) throw new Error(`no ${pattern} from the server; it said:\n${this.buffer}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const all = this.buffer;
    this.buffer = '';
    return all;
  }
  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }
}

function imaps(host: string = MTA.address): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port: 993, servername: 'zimbra.ville-test.fr', ca }, () => resolve(new Conversation(socket)));
    socket.on('error', reject);
  });
}

describe('the test MTA (the city Zimbra stand-in)', () => {
  it('offers STARTTLS on 587 with a certificate that verifies against the test CA for every test city relay name, and SIZE', async () => {
    for (const d of MTA_DOMAINS) {
      await expect(transport({ servername: `zimbra.${d}` }).verify(), `zimbra.${d}`).resolves.toBe(true);
    }
    const info = await transport().sendMail({ from: 'ne-pas-repondre@ville-test.fr', to: mailbox('size'), subject: 'Taille', text: 'x' });
    expect((info as { ehlo?: string[] }).ehlo).toContain('SIZE 10485760');
  });

  it('delivers a message signed with DKIM (selector socle-test), readable with messagesFor and the relay named after the city', async () => {
    const to = mailbox('dkim');
    await transport().sendMail({ from: 'ne-pas-repondre@ville-test.fr', to, subject: 'Essai de signature', text: 'Bonjour, ceci est un essai.\n' });
    const [message] = await waitForMessages(to);
    expect(header(message, 'DKIM-Signature')[0]).toMatch(/d=ville-test\.fr; s=socle-test;/);
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === `${MTA.dkimSelector}._domainkey.ville-test.fr`) return [[dkimPublicKey('ville-test.fr')]];
      throw Object.assign(new Error(`no ${type} ${name}`), { code: 'ENOTFOUND' });
    };
    const verified = await dkimVerify(Buffer.from(message), { resolver });
    expect(verified.results.map((r) => [r.signingDomain, r.status.result])).toEqual([['ville-test.fr', 'pass']]);
    // The check can fail: a changed signed header no longer verifies, nor does a changed body.
    const tampered = await dkimVerify(Buffer.from(message.replace('Subject: Essai de signature', 'Subject: Essai de faux')), { resolver });
    expect(tampered.results[0].status.result).toBe('fail');
    const body = await dkimVerify(Buffer.from(message.replace('un essai', 'un faux')), { resolver });
    expect(body.results[0].status.result).not.toBe('pass');
    expect(header(message, 'Received')).toEqual([expect.stringMatching(/ by zimbra\.ville-test\.fr \(Postfix\) with ESMTPSA /)]);
    await clearMailbox(to);
    expect(await messagesFor(to)).toEqual([]);
  });

  it('accepts implicit TLS on 465', async () => {
    const to = mailbox('465');
    await transport({ port: 465 }).sendMail({ from: 'socle@ville-test.fr', to, subject: 'Port 465', text: 'x' });
    expect(header((await waitForMessages(to))[0], 'Received')[0]).toMatch(/using TLS/);
  });

  it('refuses a wrong password (535), a sender the account does not own (553) and any domain but the test cities (554)', async () => {
    const wrong = await failure(transport({ pass: 'pas-le-bon' }).verify());
    expect(wrong.responseCode).toBe(535);
    const notOwned = await failure(transport().sendMail({ from: 'maire@ville-test.fr', to: mailbox('owner'), subject: 'x', text: 'x' }));
    expect(notOwned.responseCode).toBe(553);
    expect(String(notOwned.response)).toMatch(/not owned by user socle@ville-test\.fr/);
    const otherCity = await failure(transport().sendMail({ from: 'ne-pas-repondre@ville-test.fr', to: 'quelquun@gmail.com', subject: 'x', text: 'x' }));
    expect(otherCity.responseCode).toBe(554);
    expect(String(otherCity.response)).toMatch(/Relay access denied/);
  });

  it('on the cleartext relay, a client that requires TLS gives up before AUTH, and the log shows it did not try (a client that tries shows)', async () => {
    const sessions = async (after: number) => {
      for (let i = 0; i < 100; i++) {
        const all = await cleartextSessions();
        if (all.length > after) return all.slice(after);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no new session of the cleartext relay in its log:\n${(await mtaLog()).slice(-3000)}`);
    };
    let before = (await cleartextSessions()).length;
    const refused = await failure(transport({ host: MTA.noStartTlsAddress, requireTLS: true }).verify());
    expect(String(refused.message)).toMatch(/STARTTLS/);
    const [careful] = await sessions(before);
    expect(careful).not.toMatch(/\bauth=/);
    // A careless client (bogus credentials: nothing real is ever sent in the clear).
    before = (await cleartextSessions()).length;
    const socket = netConnect({ host: MTA.noStartTlsAddress, port: 587 });
    const smtp = new Conversation(socket);
    await smtp.until(/^220 /m);
    smtp.send('EHLO careless.example');
    const ehlo = await smtp.until(/^250 /m);
    expect(ehlo).toMatch(/AUTH PLAIN LOGIN/);
    expect(ehlo).not.toMatch(/STARTTLS/);
    smtp.send(`AUTH PLAIN ${Buffer.from('\0nobody@ville-test.fr\0bogus').toString('base64')}`);
    await smtp.until(/^535 /m, 15_000);
    smtp.send('QUIT');
    await smtp.until(/^221 /m);
    socket.destroy();
    const [careless] = await sessions(before);
    expect(careless).toMatch(/\bauth=0\/1\b/);
  });

  it('the wrong-name relay presents a certificate of the same CA for another name, which a client refuses', async () => {
    const refused = await failure(transport({ host: MTA.wrongNameAddress }).verify());
    expect(String(refused.message)).toMatch(/does not match certificate's altnames.*zimbra\.ville-test\.fr.*DNS:mail\.ailleurs\.example/);
    await expect(transport({ host: MTA.wrongNameAddress, servername: MTA.wrongName }).verify()).resolves.toBe(true);
  });

  it('the switchable relay goes down (connections refused) and comes back', async () => {
    await expect(transport({ host: MTA.switchableAddress }).verify()).resolves.toBe(true);
    try {
      await setRelayUp(false);
      const down = await failure(transport({ host: MTA.switchableAddress }).verify());
      expect(down.code).toMatch(/ECONNREFUSED|ECONNRESET|ESOCKET/);
      expect(String(down.message)).toMatch(/ECONNREFUSED|ECONNRESET/);
      // The others stay up.
      await expect(transport().verify()).resolves.toBe(true);
    } finally {
      await setRelayUp(true);
    }
    const to = mailbox('back');
    await transport({ host: MTA.switchableAddress }).sendMail({ from: 'ne-pas-repondre@ville-test.fr', to, subject: 'De retour', text: 'x' });
    await waitForMessages(to);
  });

  it('the foreign-hop relay delivers with a Received hop through a third party above its own', async () => {
    const to = mailbox('hop');
    await transport({ host: MTA.foreignHopAddress }).sendMail({ from: 'ne-pas-repondre@ville-test.fr', to, subject: 'Détour', text: 'x' });
    const received = header((await waitForMessages(to))[0], 'Received');
    expect(received).toHaveLength(2);
    expect(received[0]).toMatch(/^Received: from smtp\.relais-tiers\.example .* by mx\.relais-tiers\.example /);
    expect(received[1]).toMatch(/ by zimbra\.ville-test\.fr \(Postfix\) with ESMTPSA /);
  });

  it('IMAPS on 993: a mailbox of a test domain logs in with the test password and sees its messages; a wrong password does not', async () => {
    const to = mailbox('imap');
    await transport().sendMail({ from: 'ne-pas-repondre@ville-test.fr', to, subject: 'Pour IMAP', text: 'x' });
    await waitForMessages(to);
    const imap = await imaps();
    await imap.until(/^\* OK /m);
    imap.send(`a1 LOGIN ${to} ${PASSWORD}`);
    expect(await imap.until(/^a1 /m)).toMatch(/^a1 OK/m);
    imap.send('a2 SELECT INBOX');
    expect(await imap.until(/^a2 /m)).toMatch(/^\* 1 EXISTS/m);
    imap.send('a3 LOGOUT');
    imap.socket.destroy();
    const wrong = await imaps();
    await wrong.until(/^\* OK /m);
    wrong.send(`b1 LOGIN ${to} pas-le-bon`);
    expect(await wrong.until(/^b1 /m, 15_000)).toMatch(/^b1 NO/m);
    wrong.socket.destroy();
  });
});
