import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditMessage, headerFields, parseReceived } from './message-audit.js';

// mailauth's signer, loaded as its verifier is (message-audit.ts): its main entry fails on Node 20.
const { dkimSign } = createRequire(import.meta.url)('mailauth/lib/dkim/sign') as { dkimSign: (m: string, o: object) => Promise<{ signatures: string }> };

// dkimRecords: {} makes every DKIM lookup answer from the records given, never from DNS.
const POLICY = { domains: ['ville-exemple.fr'], networks: ['10.20.0.0/16'], dkimRecords: {} };
const CITY_HOPS = [
  'Received: from zimbra.ville-exemple.fr (localhost [127.0.0.1])\r\n\tby zimbra.ville-exemple.fr (Postfix) with LMTP id 1; Tue, 1 Dec 2026 10:00:01 +0100',
  'Received: from socle-app (unknown [10.20.0.10])\r\n\tby zimbra.ville-exemple.fr (Postfix) with ESMTPSA id 2\r\n\tfor <dsi@ville-exemple.fr>; Tue, 1 Dec 2026 10:00:00 +0100',
];
const message = (hops: string[], extra = '', body = 'Lien : https://participer.ville-exemple.fr/socle-verification/abc123\r\n') => [
  'Return-Path: <ne-pas-repondre@ville-exemple.fr>', ...hops,
  'From: Ville-Exemple <ne-pas-repondre@ville-exemple.fr>', 'To: dsi@ville-exemple.fr',
  'Message-ID: <0f1e2d@ville-exemple.fr>', 'Subject: essai', extra, '', body,
].filter((l, i, a) => l !== '' || i === a.indexOf('')).join('\r\n');
const LINK = 'https://participer.ville-exemple.fr/socle-verification/abc123';
const failed = async (raw: string, policy = POLICY) => (await auditMessage(raw, { ...policy, expectedLink: LINK })).findings.filter((f) => !f.ok).map((f) => f.check);

describe('the message audit', () => {
  it('unfolds header fields in order', () => {
    expect(headerFields(message(CITY_HOPS)).filter(([n]) => n === 'received')).toHaveLength(2);
    expect(headerFields('A: 1\r\n\tcontinued\r\nB: 2\r\n\r\nbody')).toEqual([['a', '1 continued'], ['b', '2']]);
  });

  it('accepts city hops: the Socle host by its address, the relay by its name, its loopback hand-over', async () => {
    expect(parseReceived(CITY_HOPS[1].slice(10), POLICY)).toMatchObject({ from: 'socle-app', fromAddress: '10.20.0.10', by: 'zimbra.ville-exemple.fr', city: true });
    // Only DKIM fails here (the message carries no signature): every other check passes.
    expect(await failed(message(CITY_HOPS))).toEqual(['dkim']);
  });

  it('flags a planted hop through another relay', async () => {
    const planted = 'Received: from smtp.relais-tiers.example (smtp.relais-tiers.example [203.0.113.25])\r\n\tby mx.relais-tiers.example with ESMTPS id 9; Tue, 1 Dec 2026 10:00:00 +0100';
    const audit = await auditMessage(message([CITY_HOPS[0], planted, CITY_HOPS[1]]), POLICY);
    const received = audit.findings.find((f) => f.check === 'received')!;
    expect(received.ok).toBe(false);
    expect(received.detail).toMatch(/1 of 3 hops are not city hosts: from smtp\.relais-tiers\.example \[203\.0\.113\.25\] by mx\.relais-tiers\.example/);
  });

  it('flags a city-named relay reached from an address outside the city\'s networks', async () => {
    const hop = 'Received: from zimbra.ville-exemple.fr (unknown [198.51.100.7]) by zimbra.ville-exemple.fr (Postfix) with ESMTPSA id 3; Tue, 1 Dec 2026 10:00:00 +0100';
    expect(await failed(message([hop]))).toContain('received');
  });

  it('flags a sender, Return-Path or Message-ID at a vendor, as Mandrill left them', async () => {
    const vendor = message(CITY_HOPS).replace('Return-Path: <ne-pas-repondre@ville-exemple.fr>', 'Return-Path: <bounce-md_123@mandrillapp.com>').replace('<0f1e2d@ville-exemple.fr>', '<0f1e2d@mandrillapp.com>');
    expect(await failed(vendor)).toEqual(expect.arrayContaining(['return-path', 'message-id']));
  });

  it('flags a rewritten link (click tracking)', async () => {
    const tracked = message(CITY_HOPS, '', 'Lien : https://mandrillapp.com/track/click/30000000/participer.ville-exemple.fr?p=eyJzIjoi\r\n');
    const audit = await auditMessage(tracked, { ...POLICY, expectedLink: LINK });
    expect(audit.findings.find((f) => f.check === 'link')).toMatchObject({ ok: false, detail: expect.stringMatching(/rewrote it \(click tracking\)/) });
  });

  it('says that a message without Received fields was not saved as delivered', async () => {
    expect((await auditMessage(message([]), POLICY)).findings[0]).toMatchObject({ check: 'received', ok: false, detail: expect.stringMatching(/full headers/) });
  });

  it('verifies the city\'s DKIM signature against the record given, and fails it against another key', async () => {
    // Signed here as Zimbra signs (mailauth's signer); the records given replace DNS entirely.
    const keys = () => generateKeyPairSync('rsa', { modulusLength: 1024 });
    const signer = keys();
    const record = (k: ReturnType<typeof keys>) => `v=DKIM1; k=rsa; p=${k.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
    const unsigned = message(CITY_HOPS);
    const { signatures } = await dkimSign(unsigned, { signatureData: [{ signingDomain: 'ville-exemple.fr', selector: 'socle', privateKey: signer.privateKey.export({ type: 'pkcs8', format: 'pem' }) }] });
    const signed = `${signatures}${unsigned}`;
    const dkim = async (value: string) => (await auditMessage(signed, { ...POLICY, dkimRecords: { 'socle._domainkey.ville-exemple.fr': value } })).findings.find((f) => f.check === 'dkim')!;
    expect(await dkim(record(signer))).toMatchObject({ ok: true, detail: 'DKIM pass for d=ville-exemple.fr s=socle' });
    expect(await dkim(record(keys()))).toMatchObject({ ok: false, detail: expect.stringMatching(/DKIM did not pass: d=ville-exemple\.fr s=socle fail/) });
  });
});
