import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLE, TSX, run, tempDir } from './helpers.js';

const mail = (args: string[], env: Record<string, string> = {}) => run(TSX, ['scripts/mail.ts', ...args], env);

describe('npm run mail', () => {
  it('has --help for itself and each command', () => {
    for (const args of [['--help'], ['check', '--help'], ['send-test', '--help'], ['verify', '-h']]) {
      const r = mail(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/usage: npm run mail -- <command>/);
      expect(r.stdout).toMatch(/--read-back/);
    }
  });

  it('fails with exit 2 and the usage on an unknown command or flag', () => {
    const r = mail(['chek', '--config', EXAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command "chek"; commands: check, send-test, records, verify/);
    expect(mail(['check', '--config', EXAMPLE, '--hots', 'x']).status).toBe(2);
  });

  it('needs the relay password before connecting anywhere, and says which variable', () => {
    const r = mail(['check', '--config', EXAMPLE], { SOCLE_SMTP_PASSWORD: '' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mail\.relay\.password \(environment variable SOCLE_SMTP_PASSWORD\) has no value: export SOCLE_SMTP_PASSWORD=/);
  });

  it('refuses send-test without a recipient, and verify without a readable message', () => {
    expect(mail(['send-test', '--config', EXAMPLE]).stderr).toMatch(/send-test needs --to ADDRESS/);
    const r = mail(['verify', '--config', EXAMPLE, '--message', '/nonexistent.eml']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--message \/nonexistent\.eml: no such file/);
  });

  it('prints the DNS records and Zimbra commands, and writes them without overwriting', () => {
    const r = mail(['records', '--config', EXAMPLE]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/v=spf1 a:zimbra\.ville-exemple\.fr -all/);
    expect(r.stdout).toMatch(/zmprov ma socle@ville-exemple\.fr zimbraAllowFromAddress ne-pas-repondre@ville-exemple\.fr/);
    expect(r.stdout).toMatch(/FR: /);
    const out = tempDir();
    expect(mail(['records', '--config', EXAMPLE, '--out', out]).status).toBe(0);
    const again = mail(['records', '--config', EXAMPLE, '--out', out]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/never overwritten/);
  });

  it('audits a saved message offline and exits 1 when it went through a vendor', () => {
    const file = join(tempDir(), 'm.eml');
    writeFileSync(file, ['Return-Path: <bounce@mandrillapp.com>', 'Received: from mail.mandrillapp.com (mail.mandrillapp.com [198.51.100.9]) by zimbra.ville-exemple.fr (Postfix) with ESMTPS id 1; Tue, 1 Dec 2026 10:00:00 +0100',
      'From: <ne-pas-repondre@ville-exemple.fr>', 'Message-ID: <1@mandrillapp.com>', 'Subject: x', '', 'x', ''].join('\r\n'));
    const record = join(tempDir(), 'dkim.txt');
    writeFileSync(record, 'v=DKIM1; k=rsa; p=MIIB');
    const r = mail(['verify', '--config', EXAMPLE, '--message', file, '--dkim-record', record]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAILED received .*mail\.mandrillapp\.com/);
    expect(r.stdout).toMatch(/FAILED return-path/);
    expect(r.stdout).toMatch(/FAILED message-id/);
  });
});
