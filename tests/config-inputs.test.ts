// Bad city files, through the real command: each is refused with exit status 2, a message naming
// file:line, the field and the fix, and nothing written. And the inputs that must pass, do.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import { loadCity } from '../stacks/config/load.js';
import { ROOT, TSX, exampleCity, run, synthToDisk, tempDir, writeCity } from './helpers.js';

const ENCODINGS = join(ROOT, 'tests/fixtures/encodings');

/** Line (1-based) of the first line of `text` containing `needle`. */
function lineOf(text: string, needle: string, after = 0): number {
  const i = text.split('\n').findIndex((l, n) => n >= after && l.includes(needle));
  if (i < 0) throw new Error(`"${needle}" not in the file`);
  return i + 1;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs the synth command on `file` the way a sysadmin would. */
function synth(file: string): { status: number; stderr: string; wrote: boolean } {
  const out = join(tempDir(), 'cdktf.out');
  const r = run(TSX, ['main.ts', '--config', file, '--out', out]);
  return { status: r.status, stderr: r.stderr, wrote: existsSync(out) };
}

/** The command refused `file`: exit 2, `<name>:<line>:<col>  <path>`, the words expected, no output. */
function expectRefused(file: string, where: { name?: string; line: number; path: string }, ...words: RegExp[]): string {
  const r = synth(file);
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`${escape(where.name ?? 'ville.yaml')}:${where.line}:\\d+  ${escape(where.path)}\\n`));
  for (const w of words) expect(r.stderr).toMatch(w);
  expect(r.stderr).toMatch(/nothing was written/);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.wrote).toBe(false);
  return r.stderr;
}

/** The example city changed by `mutate`, written out; with the line of `marker` in it. */
function cityWith(mutate: (c: any) => void): { file: string; text: string } {
  const c = exampleCity();
  mutate(c);
  const file = writeCity(c);
  return { file, text: readFileSync(file, 'utf8') };
}

describe('encodings of a city file', () => {
  it('reads a Windows-1252 file with its accents intact, down to the legal notice', () => {
    const city = loadCity(join(ENCODINGS, 'ville-windows-1252.yaml'));
    expect(city.commune.dpo.name).toBe('Délégué à la protection des données de Ville-Exemple');
    expect(city.hosts[0].site).toBe('Hôtel de ville, salle serveurs (sous-sol), Cœur de bourg');
    const { stacks } = synthToDisk(join(ENCODINGS, 'ville-windows-1252.yaml'));
    const text = stacks.map((s) => s.text).join('\n');
    expect(text).toContain('Cœur de bourg');
    expect(text).not.toContain('\uFFFD');
  });

  it('reads a UTF-8 file that starts with a byte-order mark', () => {
    expect(loadCity(join(ENCODINGS, 'ville-utf8-bom.yaml')).commune.dpo.name).toBe('Délégué à la protection des données de Ville-Exemple');
  });

  it.each([
    ['ville-utf16le-bom.yaml', 'UTF-16LE'],
    ['ville-utf16be.yaml', 'UTF-16BE'],
    ['ville-utf32le-bom.yaml', 'UTF-32LE'],
  ])('refuses %s, naming %s and the iconv command that converts it', (name, encoding) => {
    expectRefused(join(ENCODINGS, name), { name, line: 1, path: '(file)' }, new RegExp(`a file in ${encoding}`), new RegExp(`iconv -f ${encoding} -t UTF-8 \\S*${name.replace(/\./g, '\\.')} > \\S*${name.replace(/\./g, '\\.')}\\.utf8`));
  });

  it('refuses a replacement character left by an earlier lossy conversion, on its line', () => {
    const name = 'ville-replacement-character.yaml';
    const line = lineOf(readFileSync(join(ENCODINGS, name), 'utf8'), '\uFFFD');
    expectRefused(join(ENCODINGS, name), { name, line, path: '(file)' }, /replacement character/, /retype the accented letter on this line/);
  });
});

describe('what the commune owns, and who else it relies on', () => {
  const external = (party: Record<string, string>) => (c: any) => { c.externalParties = [{ name: 'Prestataire', reason: 'the commune has no registry of its own yet', ...party }]; };
  const CASES: Array<[string, (c: any) => void, string, string, Record<string, string>]> = [
    ['a public cloud registry missing from the deny list', (c) => { c.registry.host = 'registry.cn-hangzhou.aliyuncs.com'; }, 'registry.host', 'registry.cn-hangzhou.aliyuncs.com', { host: 'registry.cn-hangzhou.aliyuncs.com', role: 'registry' }],
    ['a commercial backup-storage provider', (c) => { c.services.backup.targets[0].host = 'sftp.hidrive.strato.com'; }, 'services.backup.targets.0.host', 'sftp.hidrive.strato.com', { host: 'hidrive.strato.com', role: 'backup-storage' }],
    ['a relay address in a cloud provider\'s range', (c) => { c.mail.relay.address = '52.47.0.10'; }, 'mail.relay.address', '52.47.0.10', { address: '52.47.0.0/16', role: 'mail-relay' }],
    ['a relay name outside the owned domains', (c) => { c.mail.relay.host = 'smtp.prestataire-courriel.fr'; }, 'mail.relay.host', 'smtp.prestataire-courriel.fr', { host: 'smtp.prestataire-courriel.fr', role: 'mail-relay' }],
    ['a public host name outside the owned domains', (c) => { c.services.matomo.hostname = 'stats.agglo-exemple.fr'; }, 'services.matomo.hostname', 'stats.agglo-exemple.fr', { host: 'agglo-exemple.fr', role: 'public-hostname' }],
  ];

  describe.each(CASES)('%s', (_name, mutate, path, value, party) => {
    it('is refused, with the field and both ways to fix it', () => {
      const { file, text } = cityWith(mutate);
      expectRefused(file, { line: lineOf(text, value), path }, /or a declared external party/, /add its (domain|prefix) to commune\.owns\.(domains|networks)/,
        new RegExp(`externalParties: \\[\\{ name: <who>, (host|address): ${value.replace(/\./g, '\\.')}, role: ${party.role}, reason: <why, at least 10 characters> \\}\\]`));
    });

    it('is accepted when declared as an external party with a reason', () => {
      const { file } = cityWith((c) => { mutate(c); external(party)(c); });
      expect(loadCity(file).externalParties).toEqual([expect.objectContaining(party)]);
    });
  });

  it('lists the declared external parties in socle-cities.json, for the audit', () => {
    const { file } = cityWith((c) => { c.registry.host = 'registre.sivu-exemple.fr'; external({ host: 'registre.sivu-exemple.fr', role: 'registry' })(c); });
    const { outdir } = synthToDisk(file);
    const [city] = JSON.parse(readFileSync(join(outdir, 'socle-cities.json'), 'utf8'));
    expect(city.externalParties).toEqual([{ name: 'Prestataire', host: 'registre.sivu-exemple.fr', role: 'registry', reason: 'the commune has no registry of its own yet' }]);
  });

  it('refuses an external party declared for another role than the field', () => {
    const { file, text } = cityWith((c) => { c.registry.host = 'registre.sivu-exemple.fr'; external({ host: 'registre.sivu-exemple.fr', role: 'mail-relay' })(c); });
    expectRefused(file, { line: lineOf(text, 'host: registre.sivu-exemple.fr'), path: 'registry.host' }, /role: registry/);
  });

  it('refuses an external party whose reason is too short', () => {
    const { file, text } = cityWith((c) => { c.registry.host = 'registre.sivu-exemple.fr'; c.externalParties = [{ name: 'SIVU', host: 'registre.sivu-exemple.fr', role: 'registry', reason: 'parce que' }]; });
    expectRefused(file, { line: lineOf(text, 'reason: parce que'), path: 'externalParties.0.reason' }, /at least 10 characters/);
  });

  it('refuses an external party that no field points at, or that names neither host nor address', () => {
    const { file, text } = cityWith((c) => { c.externalParties = [
      { name: 'Ancien prestataire', host: 'sauvegardes.ancien-prestataire.fr', role: 'backup-storage', reason: 'kept from the previous contract' },
      { name: 'Sans adresse', role: 'registry', reason: 'the intercommunal registry, address to come' },
    ]; });
    const stderr = expectRefused(file, { line: lineOf(text, 'name: Ancien prestataire'), path: 'externalParties.0' }, /a party that services\.backup\.targets\[\]\.host points at \(role backup-storage\)/, /remove this entry/);
    expect(stderr).toMatch(new RegExp(`ville\\.yaml:${lineOf(text, 'name: Sans adresse')}:\\d+  externalParties\\.1\\n  expected: a "host" or an "address"`));
  });

  it('refuses a deny-listed registry even when it is declared external', () => {
    const { file, text } = cityWith((c) => { c.registry.host = '123456789012.dkr.ecr.eu-west-3.amazonaws.com'; external({ host: '123456789012.dkr.ecr.eu-west-3.amazonaws.com', role: 'registry' })(c); });
    expectRefused(file, { line: lineOf(text, '  host: 123456789012'), path: 'registry.host' }, /Amazon Web Services/, /deny list holds even for externalParties/);
  });

  it.each([
    ['a Google Artifact Registry', 'europe-west9-docker.pkg.dev', /Google Artifact Registry/],
    ['an Azure registry', 'mairie.azurecr.io', /Azure Container Registry/],
    ['GitHub\'s registry', 'ghcr.io', /GitHub Container Registry/],
    ['a Scaleway registry', 'rg.fr-par.scw.cloud', /Scaleway/],
  ])('refuses %s by the deny list', (_name, host, vendor) => {
    const { file, text } = cityWith((c) => { c.registry.host = host; });
    expectRefused(file, { line: lineOf(text, `host: ${host}`), path: 'registry.host' }, vendor);
  });

  it.each([
    ['a "privacy-friendly" analytics SaaS', 'https://plausible.io/js/script.js', /Plausible/],
    ['a social-network pixel', 'https://connect.facebook.net/fr_FR/fbevents.js', /Meta pixel/],
    ['a video embed', 'https://www.youtube-nocookie.com/embed/x', /YouTube/],
    ['a tile server of others', 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', /OpenStreetMap tile servers/],
  ])('refuses %s in the app settings', (_name, url, vendor) => {
    const { file, text } = cityWith((c) => { c.services.consultation.env.EXTRA_URL = url; });
    expectRefused(file, { line: lineOf(text, 'EXTRA_URL'), path: 'services.consultation.env.EXTRA_URL' }, vendor);
  });

  it('refuses a file without commune.owns, saying what to declare', () => {
    const { file, text } = cityWith((c) => { delete c.commune.owns; });
    expectRefused(file, { line: lineOf(text, 'commune:'), path: 'commune' }, /an "owns" field: What the commune owns/);
  });

  it('tells an older file where additionalDomains has moved', () => {
    const { file, text } = cityWith((c) => { c.additionalDomains = ['agglo-exemple.fr']; });
    expectRefused(file, { line: lineOf(text, 'additionalDomains'), path: 'additionalDomains' }, /has moved: list these domains under commune\.owns\.domains/);
  });
});

describe('messages', () => {
  it('points an unclosed quote at the line where it opens, not at the end of the file', () => {
    const text = readFileSync(join(ROOT, 'examples/ville-exemple.yaml'), 'utf8').replace('  name: Ville-Exemple', '  name: "Ville-Exemple');
    expectRefused(writeCity(text), { line: lineOf(text, 'name: "Ville-Exemple'), path: '(yaml)' }, /a quote opened here that never closes/, /close the quote on this line/);
  });

  it('names the line of a suppression that matches nothing', () => {
    const { file, text } = cityWith((c) => { c.policy = { suppressions: [{ id: 'Socle-NET1', path: 'limesurvey/Typo', reason: 'cross-host upstream for the proxy' }] }; });
    const r = synth(file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`ville\\.yaml:${lineOf(text, 'id: Socle-NET1')}: policy\\.suppressions\\.0: suppression of Socle-NET1 on "limesurvey/Typo" matches no resource`));
    expect(r.wrote).toBe(false);
  });

  it('says in words what a pattern allows, never the regex', () => {
    const { file, text } = cityWith((c) => { c.commune.slug = 'Ville Exemple'; });
    const stderr = expectRefused(file, { line: lineOf(text, 'slug:'), path: 'commune.slug' }, /expected: 3 to 32 lowercase letters, digits or hyphens, starting with a letter/);
    expect(stderr).not.toMatch(/\^\[/);
  });

  it('suggests the IDN (xn--) form of an accented host name', () => {
    const { file, text } = cityWith((c) => { c.services.limesurvey.hostname = 'enquêtes.ville-exemple.fr'; });
    expectRefused(file, { line: lineOf(text, 'enquêtes'), path: 'services.limesurvey.hostname' },
      new RegExp(`write "${domainToASCII('enquêtes.ville-exemple.fr').replace(/\./g, '\\.')}" \\(the IDN form DNS uses for an accented name\\)`));
    expect(domainToASCII('enquêtes.ville-exemple.fr')).toMatch(/^xn--/);
  });

  it.each([
    ['an integer', (c: any) => { c.services.proxy.httpPort = 'quatre-vingts'; }, 'services.proxy.httpPort', 'httpPort', /expected: an integer/],
    ['an object', (c: any) => { c.commune.address = 'place de la Mairie'; }, 'commune.address', 'address: place', /expected: an object/],
  ])('writes "%s", not "a integer"', (_name, mutate, path, marker, words) => {
    const { file, text } = cityWith(mutate);
    const stderr = expectRefused(file, { line: lineOf(text, marker), path }, words);
    expect(stderr).not.toMatch(/\ba [aeiou]/);
  });

  it('refuses tls.mode: acme while no ACME client is built or run', () => {
    const { file, text } = cityWith((c) => { c.tls = { mode: 'acme', acme: { directoryUrl: 'https://acme.ville-exemple.fr/directory', email: 'informatique@ville-exemple.fr' } }; });
    expectRefused(file, { line: lineOf(text, 'mode: acme'), path: 'tls.mode' }, /ACME is not available yet/, /use tls\.mode: files with the certificate from/);
  });

  it('refuses a mistyped placeholder in the app settings, on the line of that entry', () => {
    const { file, text } = cityWith((c) => { c.services.consultation.env.DATABASE_URL = '{{databse.url}}'; });
    expectRefused(file, { line: lineOf(text, 'DATABASE_URL'), path: 'services.consultation.env.DATABASE_URL' },
      /unknown placeholder \{\{databse\.url\}\}/, /placeholders the consultation app fills in: \{\{database\.host\}\}, .*\{\{secretKeyBase\}\}/, /did you mean \{\{database\.url\}\}\?/);
  });

  it('accepts every placeholder the construct fills in', () => {
    const { file } = cityWith((c) => { c.services.consultation.env.EXTRA = '{{ hostname }} {{mail.domain}} {{smtp.tls}}'; });
    expect(loadCity(file).services.consultation.env.EXTRA).toBe('{{ hostname }} {{mail.domain}} {{smtp.tls}}');
  });

  it('names the key of an environment variable whose name is not one', () => {
    const { file, text } = cityWith((c) => { c.services.consultation.env['locale-par-defaut'] = 'fr'; });
    expectRefused(file, { line: lineOf(text, 'locale-par-defaut'), path: 'services.consultation.env.locale-par-defaut' }, /an environment variable name: capital letters/);
  });
});

describe('who prepares the hosts (hosting)', () => {
  it.each([
    ['root as an administrator', (c: any) => { c.hosting.admins[0].name = 'root'; }, 'name: root', 'hosting.admins.0.name', /root never logs in over SSH/, /give the administrator's own account name/],
    ['the deploying user as an administrator', (c: any) => { c.hosting.admins[0].name = 'socle'; }, 'name: socle', 'hosting.admins.0.name', /an account apart from the deploying user/, /is hosts\[\]\.ssh\.user, the account Socle deploys with/],
    ['an administrator listed twice', (c: any) => { c.hosting.admins.push({ ...c.hosting.admins[0] }); }, 'name: jdupont', 'hosting.admins.1.name', /each administrator once/, /merge the keys into one entry/],
    ['a storage host named like a host', (c: any) => { Object.assign(c.services.backup.targets[0], { name: 'serveur-1', prepare: true }); }, 'name: serveur-1', 'services.backup.targets.0.name', /a name apart from the hosts'/, /rename the target/],
  ])('refuses %s, with the field and the fix', (_name, mutate, needle, path, ...words) => {
    const { file, text } = cityWith(mutate);
    // The second occurrence: the duplicate admin, or the target after the host of that name.
    const after = needle === 'name: jdupont' ? lineOf(text, needle) : needle === 'name: serveur-1' ? lineOf(text, 'targets') : 0;
    expectRefused(file, { line: lineOf(text, needle, after), path }, ...words);
  });

  it('refuses an SSH key that is not one, naming what a key line looks like', () => {
    const { file, text } = cityWith((c) => { c.hosting.admins[0].keys = ['AAAAC3NzaC1lZDI1NTE5 jdupont']; });
    expectRefused(file, { line: lineOf(text, 'AAAAC3NzaC1lZDI1NTE5 jdupont'), path: 'hosting.admins.0.keys.0' }, /an OpenSSH public key line/);
  });

  it('refuses a storage host to prepare without a hosting section', () => {
    const { file, text } = cityWith((c) => { delete c.hosting; c.services.backup.targets[0].prepare = true; });
    expectRefused(file, { line: lineOf(text, 'prepare: true'), path: 'services.backup.targets.0.prepare' }, /a hosting section: preparing a storage host needs its administrators/);
  });
});
