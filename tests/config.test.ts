import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadCities, loadCity } from '../stacks/config/load.js';
import { EXAMPLE, ROOT, TSX, exampleCity, run, tempDir, writeCity } from './helpers.js';

/** Line (1-based) of the first line of `text` containing `needle` (starting with it, after a `^`). */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => (needle.startsWith('^') ? l.startsWith(needle.slice(1)) : l.includes(needle)));
  if (i < 0) throw new Error(`"${needle}" not in the file`);
  return i + 1;
}

function issuesOf(file: string) {
  try {
    loadCities(file);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error(`${file} was accepted`);
}

type Mutation = (c: any) => void;
// Each case: a mistake a sysadmin can make, the field path the error must name, a marker to find
// the line the error must point at, and words the message must contain.
const CORPUS: Array<[string, Mutation, string, string, RegExp]> = [
  ['missing DPO', (c) => { delete c.commune.dpo; }, 'commune', 'commune:', /"dpo" field/],
  ['wrong type for a port', (c) => { c.services.proxy.httpPort = 'quatre-vingts'; }, 'services.proxy.httpPort', 'httpPort', /an integer/],
  ['unknown service key (typo)', (c) => { c.services.limesurvy = c.services.limesurvey; delete c.services.limesurvey; }, 'services.limesurvy', 'limesurvy:', /did you mean "limesurvey"/],
  ['unknown host key (typo)', (c) => { c.hosts[0].sitee = c.hosts[0].site; }, 'hosts.0.sitee', 'sitee', /did you mean "site"/],
  ['hostname outside the city domain', (c) => { c.services.limesurvey.hostname = 'enquetes.autre-ville.fr'; }, 'services.limesurvey.hostname', 'enquetes.autre-ville.fr', /under ville-exemple\.fr/],
  ['malformed hostname', (c) => { c.services.matomo.hostname = 'Statistiques!.ville-exemple.fr'; }, 'services.matomo.hostname', 'Statistiques!', /fully qualified DNS name/],
  ['third-party mail relay', (c) => { c.mail.relay.host = 'smtp.mandrillapp.com'; }, 'mail.relay.host', 'smtp.mandrillapp.com', /Mandrill/],
  ['password written inline', (c) => { c.mail.relay.password = 'motdepasse-en-clair'; }, 'mail.relay.password', 'motdepasse-en-clair', /never written in the city file/],
  ['duplicate published port', (c) => { c.services.proxy.httpPort = 443; }, 'services.proxy.httpsPort', '  proxy:', /port 443 is already taken/],
  ['service on an undeclared host', (c) => { c.services.matomo.host = 'serveur-2'; }, 'services.matomo.host', 'serveur-2', /did you mean "serveur-1"/],
  ['registry on Docker Hub', (c) => { c.registry.host = 'registry-1.docker.io'; }, 'registry.host', 'registry-1.docker.io', /Docker Hub/],
  ['analytics tag in app settings', (c) => { c.services.consultation.env.TRACKER = 'https://www.googletagmanager.com/gtm.js'; }, 'services.consultation.env.TRACKER', 'googletagmanager', /Google Tag Manager/],
  ['memory below the minimum', (c) => { c.services.limesurvey.memoryMiB = 16; }, 'services.limesurvey.memoryMiB', 'memoryMiB: 16', />= 64/],
  ['sender outside the city domain', (c) => { c.mail.from = 'noreply@gmail.com'; }, 'mail.from', 'noreply@gmail.com', /sender address in ville-exemple\.fr/],
  ['onion away from the proxy', (c) => { c.hosts.push({ name: 'serveur-2', ssh: { user: 'socle', address: '10.20.0.11' }, site: 'Annexe', owner: 'Commune' }); for (const s of ['proxy', 'consultation', 'limesurvey', 'matomo']) c.services[s].host = 'serveur-1'; c.services.onion.host = 'serveur-2'; }, 'services.onion.host', 'host: serveur-2', /same host as the proxy/],
  ['enabled service without hostname', (c) => { delete c.services.matomo.hostname; }, 'services.matomo', 'matomo:', /"hostname" field/],
  ['host known by name only, without private address', (c) => { c.hosts[0].ssh.address = 'serveur-1.mairie.lan'; }, 'hosts.0', '- name: serveur-1', /"privateAddress" \(IPv4\)/],
  ['registry user without password', (c) => { c.registry.username = 'deploiement'; }, 'registry', 'registry:', /"password" reference/],
  ['LimeSurvey memory below its minimum', (c) => { c.services.limesurvey.memoryMiB = 128; }, 'services.limesurvey.memoryMiB', 'memoryMiB: 128', />= 256/],
  ['secret written in the app settings', (c) => { c.services.consultation.env.SMTP_PASS = 'motdepasse'; }, 'services.consultation.env.SMTP_PASS', 'SMTP_PASS: ', /placeholder such as \{\{database\.password\}\}/],
  ['credentials inside a URL of the app settings', (c) => { c.services.consultation.env.ARCHIVE_URL = 'https://archiviste:motdepasse@archives.ville-exemple.fr/'; }, 'services.consultation.env.ARCHIVE_URL', 'ARCHIVE_URL', /no secret written/],
  ['suppression whose reason is blank', (c) => { c.policy = { suppressions: [{ id: 'Socle-CT2', path: 'x', reason: '            ' }] }; }, 'policy.suppressions.0.reason', 'reason:', /at least 10 characters/],
  ['no alert address while backups run', (c) => { delete c.mail.alerts; }, 'mail.alerts', '^mail:', /at least one address/],
  ['alerts sent to a mailbox outside the city', (c) => { c.mail.alerts = ['informatique@gmail.com']; }, 'mail.alerts.0', 'informatique@gmail.com', /commune\.owns\.domains/],
  ['relay CA file that does not exist', (c) => { c.mail.relay.ca = 'ca-de-la-ville.pem'; }, 'mail.relay.ca', 'ca-de-la-ville.pem', /put the city CA's certificate at .*ca-de-la-ville\.pem/],
  ['DMARC reports sent to a mailbox outside the city', (c) => { c.mail.dmarc = { reports: 'rapports@dmarc-analyse.example.com' }; }, 'mail.dmarc.reports', 'rapports@dmarc-analyse', /commune\.owns\.domains/],
  ['SSH port taken by the proxy', (c) => { c.services.proxy.httpsPort = 22; }, 'services.proxy.httpsPort', 'httpsPort: 22', /already taken by SSH of serveur-1/],
];

describe('city configuration', () => {
  it('accepts the bundled example and applies the documented defaults', () => {
    const city = loadCity(EXAMPLE);
    expect(city.commune.slug).toBe('ville-exemple');
    expect(city.services.proxy).toMatchObject({ host: 'serveur-1', httpPort: 80, httpsPort: 443, memoryMiB: 128 });
    expect(city.services.backup.retention).toEqual({ daily: 7, weekly: 5, monthly: 12 });
    expect(city.hosts[0].privateAddress).toBe('10.20.0.10');
  });

  describe.each(CORPUS)('fails on %s', (_name, mutate, path, marker, message) => {
    it('names the file, the line and the field, and says how to fix it', () => {
      const city = exampleCity();
      mutate(city);
      const file = writeCity(city);
      const text = readFileSync(file, 'utf8');
      const issues = issuesOf(file);
      const issue = issues.find((i) => i.path === path && message.test(`${i.expected} ${i.fix} ${i.got ?? ''}`));
      expect(issue, `issues: ${JSON.stringify(issues, null, 1)}`).toBeDefined();
      expect(issue!.file).toContain('ville.yaml');
      expect(issue!.line).toBe(lineOf(text, marker));
      expect(`${issue!.expected} ${issue!.fix} ${issue!.got ?? ''}`).toMatch(message);
      expect(issue!.fix.length).toBeGreaterThan(5);
    });
  });

  it('never echoes an inline secret in its message', () => {
    const city = exampleCity();
    city.mail.relay.password = 'motdepasse-en-clair';
    const err = (() => { try { loadCities(writeCity(city)); } catch (e) { return e as Error; } })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).not.toContain('motdepasse-en-clair');
  });

  it('fails on YAML syntax errors with the position', () => {
    const text = readFileSync(EXAMPLE, 'utf8').replace('  name: Ville-Exemple', '  name: "Ville-Exemple');
    const issues = issuesOf(writeCity(text));
    expect(issues[0].path).toBe('(yaml)');
    expect(issues[0].line).toBeGreaterThan(1);
  });

  it('fails on duplicated keys', () => {
    const text = readFileSync(EXAMPLE, 'utf8').replace('domain: ville-exemple.fr', 'domain: ville-exemple.fr\ndomain: autre.fr');
    const issues = issuesOf(writeCity(text));
    expect(issues[0]).toMatchObject({ path: '(yaml)', line: lineOf(text, 'domain: autre.fr') });
    expect(issues[0].fix).toMatch(/duplicated keys/);
  });

  it('fails on a YAML alias bomb without crashing', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n');
    expect(issuesOf(writeCity(bomb))[0].fix).toMatch(/aliases/);
  });

  it('fails on an empty file', () => {
    expect(issuesOf(writeCity(''))[0].got).toBe('an empty document');
  });

  it('reports every problem at once, sorted by line', () => {
    const city = exampleCity();
    city.services.matomo.hostname = 'Stats!.ville-exemple.fr';
    city.commune.phone = 'pas un numéro';
    const issues = issuesOf(writeCity(city));
    expect(issues.length).toBeGreaterThanOrEqual(2);
    expect(issues.map((i) => i.line)).toEqual([...issues.map((i) => i.line)].sort((a, b) => a - b));
  });

  it('fails when two communes of a directory publish the same port of one machine', () => {
    const dir = tempDir();
    const a = exampleCity();
    const b = exampleCity();
    b.commune.slug = 'autre-commune';
    writeCity(a, 'a.yaml', dir);
    writeCity(b, 'b.yaml', dir);
    const issues = issuesOf(dir);
    expect(issues.some((i) => i.file.endsWith('b.yaml') && i.path === 'services.proxy.httpPort' && /a\.yaml/.test(i.fix))).toBe(true);
  });

  it('fails when two communes share a slug', () => {
    const dir = tempDir();
    const b = exampleCity();
    b.services.proxy.bindAddress = '10.20.0.99';
    writeCity(exampleCity(), 'a.yaml', dir);
    writeCity(b, 'b.yaml', dir);
    expect(issuesOf(dir).some((i) => i.path === 'commune.slug')).toBe(true);
  });
});

describe('synth command on bad input', () => {
  it('exits 2, prints file:line and the field, and writes nothing', () => {
    const city = exampleCity();
    city.services.limesurvy = {};
    const file = writeCity(city);
    const out = join(tempDir(), 'cdktf.out');
    const r = run(TSX, ['main.ts', '--config', file, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`ville\\.yaml:${lineOf(readFileSync(file, 'utf8'), 'limesurvy')}:\\d+  services\\.limesurvy`));
    expect(r.stderr).toMatch(/nothing was written/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a Matomo retention beyond the CNIL\'s 25 months, on its line, with the limit', () => {
    const city = exampleCity();
    city.services.matomo.rawDataRetentionDays = 800;
    const file = writeCity(city);
    const out = join(tempDir(), 'cdktf.out');
    const r = run(TSX, ['main.ts', '--config', file, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`ville\\.yaml:${lineOf(readFileSync(file, 'utf8'), 'rawDataRetentionDays')}:\\d+  services\\.matomo\\.rawDataRetentionDays`));
    expect(r.stderr).toMatch(/760/);
    expect(existsSync(out)).toBe(false);
  });

  it('keeps a previous output intact when the new config is bad', () => {
    const out = join(tempDir(), 'cdktf.out');
    mkdirSync(out);
    writeFileSync(join(out, 'marker'), 'previous synth');
    const r = run(TSX, ['main.ts', '--config', writeCity('commune: [unclosed'), '--out', out]);
    expect(r.status).toBe(2);
    expect(readFileSync(join(out, 'marker'), 'utf8')).toBe('previous synth');
  });

  it('refuses to replace an output directory it did not write', () => {
    const out = tempDir();
    writeFileSync(join(out, 'these.txt'), 'a sysadmin\'s notes');
    const r = run(TSX, ['main.ts', '--config', EXAMPLE, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/does not look like a Socle output/);
    expect(readFileSync(join(out, 'these.txt'), 'utf8')).toBe('a sysadmin\'s notes');
  });

  it('keeps each stack\'s terraform working directory across synths, and gives it the committed lock file', () => {
    const out = join(tempDir(), 'cdktf.out');
    expect(run(TSX, ['main.ts', '--config', EXAMPLE, '--out', out, '--quiet']).status).toBe(0);
    const stack = join(out, 'stacks/ville-exemple-serveur-1');
    const lock = join(stack, '.terraform.lock.hcl');
    expect(readFileSync(lock, 'utf8')).toBe(readFileSync(join(ROOT, 'stacks/terraform.lock.hcl'), 'utf8'));
    mkdirSync(join(stack, '.terraform'));
    writeFileSync(join(stack, '.terraform/marker'), 'init was here\n');
    writeFileSync(lock, '# edited by hand\n');
    expect(run(TSX, ['main.ts', '--config', EXAMPLE, '--out', out, '--quiet']).status).toBe(0);
    expect(readFileSync(join(stack, '.terraform/marker'), 'utf8')).toBe('init was here\n');
    expect(readFileSync(lock, 'utf8')).toBe(readFileSync(join(ROOT, 'stacks/terraform.lock.hcl'), 'utf8'));
  });

  it('exits 2 on a missing file and on an unknown flag', () => {
    expect(run(TSX, ['main.ts', '--config', '/nonexistent/ville.yaml']).stderr).toMatch(/does not exist/);
    const r = run(TSX, ['main.ts', '--confg', EXAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage:/);
  });

  it('prints its help', () => {
    const r = run(TSX, ['main.ts', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--config FILE\|DIR/);
  });
});


describe('defaults and pins', () => {
  it('uses the city certificate from /etc/socle/tls/<slug> when tls is omitted (ACME is opt-in)', () => {
    const c = exampleCity();
    delete c.tls;
    expect(loadCity(writeCity(c)).tls).toEqual({ mode: 'files', files: { directory: '/etc/socle/tls/ville-exemple' } });
  });

  it('pins the consultation image by digest, whichever image the commune plugs in', async () => {
    const { synthToDisk, resources } = await import('./helpers.js');
    const c = exampleCity();
    c.services.consultation.image = 'decidim-ville';
    c.images = { consultation: { tag: '2026.1', digest: `sha256:${'a'.repeat(64)}` }, mariadb: { digest: `sha256:${'b'.repeat(64)}` } };
    const [stack] = synthToDisk(writeCity(c)).stacks;
    const images = resources(stack.json, 'docker_image').map((i) => i.name);
    expect(images).toContain(`registre.ville-exemple.fr/socle/decidim-ville:2026.1@sha256:${'a'.repeat(64)}`);
    expect(images).toContain(`registre.ville-exemple.fr/socle/mariadb:bookworm@sha256:${'b'.repeat(64)}`);
  });
});
