import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCity } from '../../stacks/config/load.js';
import { EXAMPLE, TSX, exampleCity, run, tempDir, writeCity } from '../../tests/helpers.js';
import { DKIM_KEY_PLACEHOLDER, mailRecordFiles, mailRecords, mailRecordsSummary } from './records.js';

describe('mail records for the example city', () => {
  const records = mailRecords(loadCity(EXAMPLE));
  const byName = (name: string) => records.records.find((r) => r.name === name);

  it('publishes SPF naming only the relay, DKIM to generate, DMARC with strict alignment to a city mailbox', () => {
    expect(records.domain).toBe('ville-exemple.fr');
    expect(byName('ville-exemple.fr')).toMatchObject({ type: 'TXT', value: 'v=spf1 a:zimbra.ville-exemple.fr -all' });
    expect(byName('socle._domainkey.ville-exemple.fr')).toMatchObject({ type: 'TXT', value: `v=DKIM1; k=rsa; p=${DKIM_KEY_PLACEHOLDER}` });
    expect(byName('_dmarc.ville-exemple.fr')).toMatchObject({ type: 'TXT', value: 'v=DMARC1; p=quarantine; rua=mailto:dmarc@ville-exemple.fr; adkim=s; aspf=s' });
    // MTA-STS and TLS-RPT are off unless the city asks.
    expect(records.records.map((r) => r.name)).toEqual(['ville-exemple.fr', 'socle._domainkey.ville-exemple.fr', '_dmarc.ville-exemple.fr']);
    for (const r of [...records.records, ...records.zimbra, ...records.notes.map((n) => ({ why: n }))]) {
      expect(r.why.fr.length).toBeGreaterThan(20);
      expect(r.why.en.length).toBeGreaterThan(20);
    }
  });

  it('gives the Zimbra commands: sending account, allowed sender, relay networks, DKIM key', () => {
    expect(records.zimbra.map((c) => c.command)).toEqual([
      'zmprov ca socle@ville-exemple.fr "$SOCLE_SMTP_PASSWORD"',
      'zmprov ma socle@ville-exemple.fr zimbraAllowFromAddress ne-pas-repondre@ville-exemple.fr',
      `zmprov mcf zimbraMtaMyNetworks '127.0.0.0/8 [::1]/128 10.20.0.10/32'`,
      'zmmtactl reload',
      '/opt/zimbra/libexec/zmdkimkeyutil -a -d ville-exemple.fr -s socle',
      'zmprov gd ville-exemple.fr zimbraDomainMandatoryMailSignatureEnabled',
    ]);
    expect(records.notes.some((n) => /click tracking/.test(n.en) && /suivi des clics/.test(n.fr))).toBe(true);
  });

  it('writes a zone file, a commented script and a README, French first, with the DKIM placeholder never live', () => {
    const files = mailRecordFiles(records);
    expect(Object.keys(files).sort()).toEqual(['LISEZMOI.md', 'dns-ville-exemple.fr.zone', 'zimbra-commands.sh']);
    const zone = files['dns-ville-exemple.fr.zone'];
    expect(zone).toContain('ville-exemple.fr.\t3600\tIN\tTXT\t"v=spf1 a:zimbra.ville-exemple.fr -all"');
    expect(zone).toContain('_dmarc.ville-exemple.fr.\t3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:dmarc@ville-exemple.fr; adkim=s; aspf=s"');
    // Every line is a comment (FR/EN) or a record; the placeholder only ever appears commented out.
    for (const line of zone.split('\n').filter(Boolean)) {
      if (line.includes(DKIM_KEY_PLACEHOLDER) && !line.startsWith(';')) throw new Error(`live placeholder: ${line}`);
      expect(line.startsWith(';') || /\tIN\tTXT\t"/.test(line), line).toBe(true);
    }
    expect(zone.match(/^; FR: /gm)!.length).toBeGreaterThanOrEqual(3);
    expect(zone.match(/^; EN: /gm)!.length).toBeGreaterThanOrEqual(3);
    const script = files['zimbra-commands.sh'];
    for (const c of records.zimbra) expect(script).toContain(`# FR: ${c.why.fr}\n# EN: ${c.why.en}\n${c.command}\n`);
    // Run without the password, the script stops before creating anything.
    expect(script).toMatch(/^set -eu\n: "\$\{SOCLE_SMTP_PASSWORD:\?/m);
    const readme = files['LISEZMOI.md'];
    expect(readme.indexOf('# Courrier de Socle')).toBe(0);
    expect(readme.indexOf('# Socle\'s mail')).toBeGreaterThan(readme.indexOf('## À savoir'));
    expect(mailRecordsSummary(records).join('\n')).toMatch(/3 DNS record\(s\) \(SPF, DKIM, DMARC\).*6 Zimbra command\(s\)[\s\S]*mail\/ville-exemple\/LISEZMOI\.md/);
  });

  it('names the public sending addresses, and adds MTA-STS, TLS-RPT and consent of a reports domain when asked', () => {
    const city = exampleCity();
    city.commune.owns.domains.push('agglo-exemple.fr');
    city.mail.sending = { publicAddresses: ['203.0.113.25', '203.0.113.26'] };
    city.mail.dkim = { selector: 'mairie2026' };
    city.mail.dmarc = { reports: 'dmarc@agglo-exemple.fr', policy: 'reject' };
    city.mail.mtaSts = true;
    city.mail.tlsRpt = true;
    const r = mailRecords(loadCity(writeCity(city)));
    const values = Object.fromEntries(r.records.map((x) => [x.name, x.value]));
    expect(values['ville-exemple.fr']).toBe('v=spf1 ip4:203.0.113.25 ip4:203.0.113.26 -all');
    expect(values['mairie2026._domainkey.ville-exemple.fr']).toMatch(/^v=DKIM1; k=rsa; p=/);
    expect(values['_dmarc.ville-exemple.fr']).toBe('v=DMARC1; p=reject; rua=mailto:dmarc@agglo-exemple.fr; adkim=s; aspf=s');
    expect(values['ville-exemple.fr._report._dmarc.agglo-exemple.fr']).toBe('v=DMARC1');
    expect(values['_mta-sts.ville-exemple.fr']).toMatch(/^v=STSv1; id=[0-9a-f]{16}$/);
    expect(values['_smtp._tls.ville-exemple.fr']).toBe('v=TLSRPTv1; rua=mailto:dmarc@agglo-exemple.fr');
    expect(mailRecordFiles(r)['mta-sts.txt']).toBe('version: STSv1\nmode: testing\nmx: zimbra.ville-exemple.fr\nmax_age: 604800\n');
    expect(r.zimbra.map((c) => c.command)).toContain('/opt/zimbra/libexec/zmdkimkeyutil -a -d ville-exemple.fr -s mairie2026');
  });
});

describe('synth writes the mail records', () => {
  it('writes OUT/mail/<commune>/ with no secret in it', () => {
    const out = join(tempDir(), 'cdktf.out');
    const secret = 'mot-de-passe-du-relais-9f3c1e';
    const r = run(TSX, ['main.ts', '--config', EXAMPLE, '--out', out], { SOCLE_SMTP_PASSWORD: secret });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/mail ville-exemple\.fr: the city's mail team publishes 3 DNS record/);
    const dir = join(out, 'mail', 'ville-exemple');
    expect(readdirSync(dir).sort()).toEqual(['LISEZMOI.md', 'dns-ville-exemple.fr.zone', 'zimbra-commands.sh']);
    for (const name of readdirSync(dir)) expect(readFileSync(join(dir, name), 'utf8')).not.toContain(secret);
    expect(readFileSync(join(dir, 'zimbra-commands.sh'), 'utf8')).toContain('zimbraAllowFromAddress ne-pas-repondre@ville-exemple.fr');
  });

  it('exits 2 on DMARC reports outside the owned domains, naming file:line, field and fix, and writes nothing', () => {
    const city = exampleCity();
    city.mail.dmarc = { reports: 'rapports@dmarc-analyse.example.com' };
    const file = writeCity(city);
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('rapports@dmarc-analyse')) + 1;
    const out = join(tempDir(), 'cdktf.out');
    const r = run(TSX, ['main.ts', '--config', file, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`ville\\.yaml:${line}:\\d+  mail\\.dmarc\\.reports`));
    expect(r.stderr).toMatch(/dmarc@ville-exemple\.fr/);
    expect(r.stderr).toMatch(/nothing was written/);
    expect(existsSync(out)).toBe(false);
  });
});
