// The static audit: the example city's report, and each check failing on a violation planted in a
// city file or in the synthesized output (what an edit by hand after the synth would look like).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { EXAMPLE, exampleCity, run, synthToDisk, tempDir, TSX, writeCity } from '../../tests/helpers.js';
import { loadCities } from '../config/load.js';
import { AUDIT_CHECKS, CITIZEN_FINDINGS, LIVE_CHECKS, runChecks, type CheckResult } from './checks.js';
import { auditedCommune, LEGAL_NOTICE_FILE, type AuditedCommune } from './model.js';
import type { LiveObservations, MailObservation, OnionObservations, SurveysObservation } from './live.js';
import { evaluatePrivacy } from '../../scripts/survey.js';
import { REGISTER_FILE } from '../../services/reverse-proxy/register.js';
import { AUDIENCE_SCRIPT_FILE, NGINX_CONF_FILE } from '../../services/reverse-proxy/index.js';
import { ok as invitationsOk, FIXTURES as LETTER_FIXTURES, SURVEY } from '../../invitations/tests/cli-helpers.js';
import { AUDIT_SCHEMA_FILE, auditDocument, auditHtml, auditMarkdown, auditPicture } from './report.js';

/** The model of the first commune of `config`, after a real synth; `edit` changes the output first. */
function audited(config: string, edit?: (outdir: string) => void): AuditedCommune {
  const { outdir } = synthToDisk(config);
  edit?.(outdir);
  return auditedCommune(loadCities(config)[0], outdir);
}

const resultOf = (c: AuditedCommune, id: string): CheckResult => {
  const r = runChecks([c]).find((x) => x.id === id);
  if (!r) throw new Error(`no check ${id}`);
  return r;
};

/** `c` as the live part would have seen it: nothing observed but `seen`. */
const observedLive = (c: AuditedCommune, seen: Partial<LiveObservations>): AuditedCommune => ({ ...c, live: { resolver: 'test', dns: [], zones: [], https: [], pages: [], ...seen } });

const failing = (c: AuditedCommune) => runChecks([c]).filter((r) => r.status === 'fail').map((r) => r.id);

/** Rewrites one file the proxy of the example is given (legal notice, register, nginx.conf...). */
function editProxyFile(outdir: string, path: string, change: (content: string) => string): void {
  editStack(outdir, (json) => {
    const proxy = Object.values<any>(json.resource.docker_container).find((k) => k.name === 'ville-exemple-proxy-nginx');
    const index = proxy.env.find((e: string) => e.endsWith(`=${path}`)).match(/^SOCLE_FILE_(\d+)_PATH/)[1];
    proxy.env = proxy.env.map((e: string) => (e.startsWith(`SOCLE_FILE_${index}=`) ? `SOCLE_FILE_${index}=${change(e.slice(`SOCLE_FILE_${index}=`.length))}` : e));
  });
}

/** Rewrites the first stack's synthesized JSON of `outdir`. */
function editStack(outdir: string, change: (json: any) => void): void {
  const { stacks } = { stacks: ['ville-exemple-serveur-1'] };
  const file = join(outdir, 'stacks', stacks[0], 'cdk.tf.json');
  const json = JSON.parse(readFileSync(file, 'utf8'));
  change(json);
  writeFileSync(file, JSON.stringify(json));
}


describe('the static audit of the example city', () => {
  const example = audited(EXAMPLE);

  it('inventories every store of personal data with its host, site, owner, retention and what enforces it', () => {
    const personal = example.stores.filter((s) => s.personal);
    expect(personal.map((s) => s.id)).toEqual(expect.arrayContaining(['ville-exemple-proxy-logs', 'ville-exemple-matomo-mariadb', 'ville-exemple-limesurvey-mariadb', 'restic:nas-mairie']));
    for (const s of personal) expect(s.owner, s.id).toBe('Commune de Ville-Exemple');
    expect(personal.find((s) => s.id === 'ville-exemple-proxy-logs')).toMatchObject({ host: 'serveur-1', site: 'Hôtel de ville, salle serveurs (sous-sol)', enforcedBy: expect.stringContaining('proxy-log-retention') });
    // Databases are dumped to the targets; the proxy's logs are not copied.
    expect(personal.find((s) => s.id === 'ville-exemple-limesurvey-mariadb')!.backedUpTo).toEqual(['nas-mairie']);
    expect(personal.find((s) => s.id === 'ville-exemple-proxy-logs')!.backedUpTo).toEqual([]);
    expect(personal.find((s) => s.id === 'restic:nas-mairie')).toMatchObject({ kind: 'backup-repository', site: 'Centre technique municipal, local informatique' });
  });

  it('lists every flow that leaves the host with its destination\'s owner, and the egress matrix per container', () => {
    expect(example.flows.map((f) => `${f.to}:${f.port ?? '*'} ${f.ownedByCity}`).sort()).toEqual(['10.20.0.25:587 true', 'any:* false', 'nas.ville-exemple.fr:22 true', 'registre.ville-exemple.fr:443 true']);
    const routes = Object.fromEntries(example.containers.map((c) => [c.name, c.routesOut]));
    expect(routes['ville-exemple-limesurvey-db']).toEqual([]);
    expect(routes['ville-exemple-limesurvey-app']).toEqual([]);
    expect(routes['ville-exemple-mail-gateway']).toEqual(['10.20.0.25:587']);
    expect(routes['ville-exemple-backup-restic']).toEqual(['nas.ville-exemple.fr:22']);
    expect(routes['ville-exemple-onion-tor']).toEqual(expect.arrayContaining(['any']));
    expect(routes['ville-exemple-proxy-log-retention']).toEqual([]);
  });

  it('passes every static check, the retention of each store enforced by what it names', () => {
    expect(failing(example)).toEqual([]);
    const evidence = resultOf(example, 'AUD-RETENTION-ENFORCED').evidence.join('\n');
    expect(evidence).toMatch(/ville-exemple-limesurvey-mariadb : réponses, codes et fichiers déposés : 180 jours après la date de fin de l’enquête, puis suppression — appliqué par socle-limesurvey/);
    expect(evidence).toMatch(/ville-exemple-consultation-postgres : .* — appliqué par le conteneur consultation-scheduler, chaque jour : decidim:delete_download_your_data_files/);
    expect(resultOf(example, 'AUD-POLICY').evidence.join('\n')).toMatch(/exception Socle-CT3 .*DAC_READ_SEARCH/);
  });

  it('gives every check an id, a statement in French and English, a fix, and at least one citizen finding', () => {
    expect(new Set(AUDIT_CHECKS.map((c) => c.id)).size).toBe(AUDIT_CHECKS.length);
    for (const c of AUDIT_CHECKS) {
      expect(c.id).toMatch(/^AUD-[A-Z0-9-]+$/);
      expect(c.statement.length * c.statementEn.length * c.fix.length, c.id).toBeGreaterThan(0);
      for (const f of c.answers) expect(Object.keys(CITIZEN_FINDINGS)).toContain(f);
    }
  });

  it('writes audit.json valid against the schema that ships with it, and html and markdown from the same document', () => {
    const doc = JSON.parse(JSON.stringify(auditDocument([example], runChecks([example]))));
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(AUDIT_SCHEMA_FILE, 'utf8')));
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    // The schema is not a formality: a check without evidence, or an unknown status, is refused.
    expect(validate({ ...doc, checks: [{ ...doc.checks[0], evidence: [] }] })).toBe(false);
    expect(validate({ ...doc, checks: [{ ...doc.checks[0], status: 'ok' }] })).toBe(false);
    const html = auditHtml(doc);
    const md = auditMarkdown(doc);
    for (const r of doc.checks) {
      expect(html).toContain(`id="ville-exemple-${r.id}"`);
      expect(md).toContain(`| ${r.id} |`);
    }
    // Self-contained: no address of any other host, no script, a CSP that loads nothing.
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script|<link|@import|url\((?!#)/i);
    expect(html).toContain("default-src 'none'");
    // The legal notice as served is copied in, without its opt-out script.
    expect(html).toContain('Mentions légales servies');
    expect(html).toContain('Directeur ou directrice de la publication : Mme Jeanne Exemple, maire');
  });

  it('draws hosts, sites, stores and flows in SVG, a store nothing deletes in red', () => {
    const svg = auditPicture(example);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('serveur-1 (10.20.0.10)');
    expect(svg).toContain('Hôtel de ville, salle serveurs (sous-sol)');
    expect(svg).toContain('réseau Tor');
    expect(svg).toMatch(/fill="#1b5e20">● ville-exemple-limesurvey-uploads</);
    expect(svg).toMatch(/fill="#1b5e20">● ville-exemple-proxy-logs</);
    const city = exampleCity();
    city.services.limesurvey.image = 'limesurvey-ville-exemple';
    expect(auditPicture(audited(writeCity(city)))).toMatch(/fill="#b00020">● ville-exemple-limesurvey-uploads — conservation non appliquée/);
  });
});

describe('each check on a planted violation', () => {
  it('AUD-BACKUPS-ON-CITY-SITES and AUD-FLOWS-TO-CITY: a backup target outside the city (a declared provider)', () => {
    const city = exampleCity();
    city.services.backup.targets[0] = { name: 'cloud', host: 'backup.hebergeur.example', user: 'restic', path: '/ville', site: 'Centre de données du prestataire, Roubaix' };
    city.externalParties = [{ name: 'Hébergeur Exemple SAS', host: 'backup.hebergeur.example', role: 'backup-storage', reason: 'test: the planted violation' }];
    const c = audited(writeCity(city));
    expect(failing(c)).toEqual(expect.arrayContaining(['AUD-BACKUPS-ON-CITY-SITES', 'AUD-FLOWS-TO-CITY', 'AUD-DATA-ON-CITY-HOSTS']));
    expect(resultOf(c, 'AUD-BACKUPS-ON-CITY-SITES').evidence).toEqual(['ÉCHEC : restic:cloud sur backup.hebergeur.example appartient à Hébergeur Exemple SAS']);
    expect(resultOf(c, 'AUD-FLOWS-TO-CITY').evidence.join('\n')).toContain('backup.hebergeur.example:22 (backup target cloud (SFTP)) : Hébergeur Exemple SAS');
  });

  it('AUD-BACKUPS-ON-CITY-SITES: a backup target whose site nobody declared', () => {
    const city = exampleCity();
    delete city.services.backup.targets[0].site;
    const r = resultOf(audited(writeCity(city)), 'AUD-BACKUPS-ON-CITY-SITES');
    expect(r.status).toBe('fail');
    expect(r.evidence.join('\n')).toContain('aucun lieu déclaré (services.backup.targets[].site)');
  });

  it('AUD-DATA-ON-CITY-HOSTS: a host the commune does not own', () => {
    const city = exampleCity();
    city.hosts[0].owner = 'Hébergeur Exemple SAS';
    const c = audited(writeCity(city));
    const r = resultOf(c, 'AUD-DATA-ON-CITY-HOSTS');
    expect(r.status).toBe('fail');
    expect(r.evidence.join('\n')).toContain('ville-exemple-limesurvey-mariadb (limesurvey) est sur serveur-1, propriété de Hébergeur Exemple SAS');
  });

  it('AUD-RETENTION-ENFORCED: a volume whose retention nothing enforces, and the same volume with a mechanism', () => {
    const strip = (outdir: string) => editStack(outdir, (json) => {
      const logs = Object.values<any>(json.resource.docker_volume).find((v) => v.name === 'ville-exemple-proxy-logs');
      logs.labels = logs.labels.filter((l: any) => l.label !== 'fr.socle.retention-enforced-by');
    });
    const r = resultOf(audited(EXAMPLE, strip), 'AUD-RETENTION-ENFORCED');
    expect(r.status).toBe('fail');
    expect(r.evidence.join('\n')).toContain('ville-exemple-proxy-logs : « 90 jours');
    expect(resultOf(audited(EXAMPLE), 'AUD-RETENTION-ENFORCED').evidence.join('\n')).not.toContain('ÉCHEC');
  });

  it('AUD-RETENTION-ENFORCED: a LimeSurvey image the city packaged itself deletes nothing Socle knows of', () => {
    const city = exampleCity();
    city.services.limesurvey.image = 'limesurvey-ville-exemple';
    const r = resultOf(audited(writeCity(city)), 'AUD-RETENTION-ENFORCED');
    expect(r.status).toBe('fail');
    expect(r.evidence.filter((e) => e.startsWith('ÉCHEC')).map((e) => e.split(' : ')[1]).sort()).toEqual(['ville-exemple-limesurvey-mariadb', 'ville-exemple-limesurvey-uploads']);
  });

  it('AUD-LEGAL-NOTICE-HOST: a legal notice edited to name another host', () => {
    const c = audited(EXAMPLE, (outdir) => editStack(outdir, (json) => {
      const proxy = Object.values<any>(json.resource.docker_container).find((k) => k.name === 'ville-exemple-proxy-nginx');
      const index = proxy.env.find((e: string) => e.endsWith(`=${LEGAL_NOTICE_FILE}`)).match(/^SOCLE_FILE_(\d+)_PATH/)[1];
      proxy.env = proxy.env.map((e: string) => e.startsWith(`SOCLE_FILE_${index}=`)
        ? e.replace('hébergés par Commune de Ville-Exemple', 'hébergés par Nuage Exemple Inc., 1 Cloud Way, San Francisco').replace(/<td>Commune de Ville-Exemple<\/td>/, '<td>Nuage Exemple Inc.</td>')
        : e);
    }));
    const r = resultOf(c, 'AUD-LEGAL-NOTICE-HOST');
    expect(r.status).toBe('fail');
    expect(r.evidence.join('\n')).toContain('l’hébergeur nommé n’est pas Commune de Ville-Exemple');
    expect(r.evidence.join('\n')).toContain('serveur-1 y est « Nuage Exemple Inc., Hôtel de ville');
  });

  it('AUD-REGISTER-COMPLETE: a register that leaves out a store, and one that hides a declared provider', () => {
    const dropLogs = (outdir: string) => editStack(outdir, (json) => {
      const proxy = Object.values<any>(json.resource.docker_container).find((k) => k.name === 'ville-exemple-proxy-nginx');
      const index = proxy.env.find((e: string) => e.endsWith(`=${REGISTER_FILE}`)).match(/^SOCLE_FILE_(\d+)_PATH/)[1];
      proxy.env = proxy.env.map((e: string) => e.startsWith(`SOCLE_FILE_${index}=`) ? e.replace(/<tr data-volume="ville-exemple-proxy-logs">.*?<\/tr>/, '') : e);
    });
    expect(resultOf(audited(EXAMPLE, dropLogs), 'AUD-REGISTER-COMPLETE').evidence).toEqual(['ÉCHEC : ville-exemple-serveur-1 : le stockage ville-exemple-proxy-logs (proxy) n’y figure pas']);
    // A provider the city file declares is in the register the proxy serves: the check reads it there.
    const city = exampleCity();
    city.services.backup.targets[0] = { name: 'cloud', host: 'backup.hebergeur.example', user: 'restic', path: '/ville', site: 'Roubaix' };
    city.externalParties = [{ name: 'Hébergeur Exemple SAS', host: 'backup.hebergeur.example', role: 'backup-storage', reason: 'test: the planted violation' }];
    const declared = audited(writeCity(city));
    expect(resultOf(declared, 'AUD-REGISTER-COMPLETE').status).toBe('pass');
    expect(declared.registers[0].html).toContain('Hébergeur Exemple SAS (backup-storage) : test: the planted violation');
    const hidden = { ...declared, registers: declared.registers.map((r) => ({ ...r, html: r.html.replace('Hébergeur Exemple SAS', 'un prestataire') })) };
    expect(resultOf(hidden, 'AUD-REGISTER-COMPLETE').evidence).toEqual(['ÉCHEC : ville-exemple-serveur-1 : le prestataire Hébergeur Exemple SAS (backup-storage) n’y figure pas']);
  });

  it('AUD-NO-THIRD-PARTY-CONTENT: a site whose CSP lets a script come from another host, and one with no CSP', () => {
    const c = audited(EXAMPLE, (outdir) => editProxyFile(outdir, NGINX_CONF_FILE, (conf) => conf
      .replace("script-src 'self' 'unsafe-inline'; font-src", "script-src 'self' 'unsafe-inline' https://www.googletagmanager.com; font-src")
      .replace(/(server_name statistiques\.ville-exemple\.fr;[\s\S]*?)add_header Content-Security-Policy "[^"]*" always;/, '$1')));
    expect(resultOf(c, 'AUD-NO-THIRD-PARTY-CONTENT').evidence).toEqual([
      'ÉCHEC : participer.ville-exemple.fr autorise https://www.googletagmanager.com',
      'ÉCHEC : statistiques.ville-exemple.fr : aucune Content-Security-Policy',
    ]);
    expect(resultOf(audited(EXAMPLE), 'AUD-NO-THIRD-PARTY-CONTENT').evidence).toEqual(expect.arrayContaining([expect.stringMatching(/^service onion \(port 8082\) : default-src 'self';/)]));
  });

  it('AUD-NO-TRACKING-COOKIE: a tracker that sets cookies and reports to another host', () => {
    const c = audited(EXAMPLE, (outdir) => editProxyFile(outdir, AUDIENCE_SCRIPT_FILE, (js) => js
      .replace("_paq.push(['disableCookies']);", '')
      .replace("'/socle-audience/matomo.php'", "'https://analytics.prestataire.example/matomo.php'")));
    expect(resultOf(c, 'AUD-NO-TRACKING-COOKIE').evidence).toEqual([
      'ÉCHEC : le traceur servi ne désactive pas les cookies (disableCookies)',
      'ÉCHEC : le traceur servi nomme d’autres hôtes : https://analytics.prestataire.example',
      'ÉCHEC : adresse de collecte hors du site : https://analytics.prestataire.example/matomo.php',
    ]);
  });

  it('AUD-LIVE-COOKIES-NOTICE: a cookie the browser received that the served notice does not list, and a notice not served', () => {
    const c = audited(EXAMPLE);
    const page = (url: string, cookies: Array<{ name: string; domain: string }>, status = 200) => ({ url, status, requests: [url], blocked: [], cookies: cookies.map((k) => ({ ...k, session: true })) });
    const live = (pages: ReturnType<typeof page>[]) => observedLive(c, { pages });
    const declared = live([
      page('https://enquetes.ville-exemple.fr/cookies-et-traceurs', []),
      page('https://enquetes.ville-exemple.fr/123456', [{ name: 'PHPSESSID', domain: 'enquetes.ville-exemple.fr' }, { name: 'YII_CSRF_TOKEN', domain: 'enquetes.ville-exemple.fr' }]),
      page('https://participer.ville-exemple.fr/mentions-legales', [{ name: 'mtm_consent_removed', domain: '.participer.ville-exemple.fr' }]),
    ]);
    expect(resultOf(declared, 'AUD-LIVE-COOKIES-NOTICE').status).toBe('pass');
    const planted = live([
      page('https://participer.ville-exemple.fr/cookies-et-traceurs', [], 404),
      page('https://participer.ville-exemple.fr/', [{ name: 'PHPSESSID', domain: 'participer.ville-exemple.fr' }, { name: '_ga', domain: '.ville-exemple.fr' }]),
    ]);
    expect(resultOf(planted, 'AUD-LIVE-COOKIES-NOTICE').evidence).toEqual([
      'ÉCHEC : https://participer.ville-exemple.fr/cookies-et-traceurs : 404',
      'ÉCHEC : https://participer.ville-exemple.fr/ : cookie PHPSESSID (participer.ville-exemple.fr) absent de la page « Cookies et traceurs » de participer.ville-exemple.fr',
      'ÉCHEC : https://participer.ville-exemple.fr/ : cookie _ga (.ville-exemple.fr) absent de la page « Cookies et traceurs » de participer.ville-exemple.fr',
    ]);
  });

  it('AUD-LIVE-ONION: onion sites not crawled, a name announcing none, and an onion page asking its clearnet name', () => {
    const c = audited(EXAMPLE);
    // Each onion virtual host is found by the app behind it, as the crawl finds its port.
    expect(c.sites.filter((s) => s.serverName === '_').map((s) => [s.listen, s.upstream])).toEqual([
      ['8081', 'consultation-web:3000'], ['8082', 'limesurvey-web:8080'], ['8083', 'matomo-web:8080'],
    ]);
    const onion = (x: string) => `http://${x.repeat(56)}.onion`;
    const page = (url: string, requests: string[]) => ({ url, status: 200, requests: [url, ...requests], blocked: [], cookies: [] });
    const live = (onion?: OnionObservations) => observedLive(c, onion ? { onion } : {});
    expect(resultOf(live(), 'AUD-LIVE-ONION').evidence).toEqual([expect.stringMatching(/^ÉCHEC : sites onion non parcourus : relancer avec --tor 127\.0\.0\.1:9050/)]);
    const sites = [{ name: 'participer.ville-exemple.fr', origin: onion('a') }, { name: 'enquetes.ville-exemple.fr', origin: onion('b') }];
    expect(resultOf(live({ via: 'test', sites, pages: [page(`${onion('a')}/`, []), page(`${onion('b')}/mentions-legales`, [`${onion('b')}/style.css`])] }), 'AUD-LIVE-ONION').status).toBe('pass');
    expect(resultOf(live({ via: 'test', sites: [sites[0], { name: 'enquetes.ville-exemple.fr' }], pages: [page(`${onion('a')}/`, ['https://participer.ville-exemple.fr/logo.png'])] }), 'AUD-LIVE-ONION').evidence).toEqual([
      'ÉCHEC : enquetes.ville-exemple.fr n’annonce pas d’adresse onion v3 (en-tête Onion-Location)',
      `ÉCHEC : ${onion('a')}/ a demandé https://participer.ville-exemple.fr/logo.png (hors du site onion ; requête non envoyée)`,
    ]);
  });

  it('AUD-LIVE-MAIL: the relay check not run, run without checking anything, and failing on one host', () => {
    const c = audited(EXAMPLE);
    const live = (mail?: MailObservation) => observedLive(c, mail ? { mail } : {});
    const command = 'npm run mail -- check --config ville-exemple.yaml';
    const ok = { host: 'serveur-1', ok: true, route: 'through the mail gateway', tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', certificate: { subject: 'zimbra.ville-exemple.fr', names: ['zimbra.ville-exemple.fr'], issuer: 'CA de la ville', validTo: '2027' } }, auth: { user: 'socle@ville-exemple.fr', accepted: true, methods: ['PLAIN'] } };
    expect(resultOf(live(), 'AUD-LIVE-MAIL').evidence).toEqual([expect.stringMatching(/^ÉCHEC : relais non vérifié : relancer avec --mail/)]);
    expect(resultOf(live({ command, exitCode: 1, hosts: [], error: 'no mail gateway runs on any host of the city' }), 'AUD-LIVE-MAIL').evidence).toEqual([`ÉCHEC : ${command} n’a rien vérifié (code 1) : no mail gateway runs on any host of the city`]);
    expect(resultOf(live({ command, exitCode: 0, hosts: [ok] }), 'AUD-LIVE-MAIL').status).toBe('pass');
    const refused = { host: 'serveur-2', ok: false, route: 'through the mail gateway', failure: { step: 'auth' as const, message: '535 authentication failed', fix: 'set the smtp_password secret' } };
    expect(resultOf(live({ command, exitCode: 1, hosts: [ok, refused] }), 'AUD-LIVE-MAIL').evidence).toEqual([
      'ÉCHEC : serveur-2 : échec à l’étape auth : 535 authentication failed ; correction : set the smtp_password secret',
    ]);
    expect(resultOf(live({ command, exitCode: 0, hosts: [ok] }), 'AUD-LIVE-MAIL').evidence).toEqual([expect.stringMatching(/^serveur-1 : through the mail gateway ; TLSv1\.3 TLS_AES_256_GCM_SHA384, certificat \[zimbra\.ville-exemple\.fr\] de CA de la ville ; compte socle@ville-exemple\.fr accepté$/)]);
  });

  it('AUD-LIVE-SURVEYS: the survey check not run, run without checking anything, and a survey open to registration', () => {
    const c = audited(EXAMPLE);
    const live = (surveys?: SurveysObservation) => observedLive(c, surveys ? { surveys } : {});
    const command = 'npm run survey -- check --active --config ville-exemple.yaml';
    const codesOnly = { sid: 100001, title: 'Rythmes scolaires', findings: evaluatePrivacy({ active: 'Y', expires: '2027-03-31 23:59:00', anonymized: 'Y', ipaddr: 'N', ipanonymize: 'Y', refurl: 'N', savetimings: 'N', datestamp: 'N', allowsave: 'N', listpublic: 'N', allowregister: 'N' }, { table: true, count: 40, identified: 0 }) };
    expect(resultOf(live(), 'AUD-LIVE-SURVEYS').evidence).toEqual([expect.stringMatching(/^ÉCHEC : enquêtes non vérifiées : relancer avec --surveys/)]);
    expect(resultOf(live({ command, exitCode: 2, surveys: [], error: 'SOCLE_LIMESURVEY_ADMIN_PASSWORD is not set' }), 'AUD-LIVE-SURVEYS').evidence).toEqual([`ÉCHEC : ${command} n’a rien vérifié (code 2) : SOCLE_LIMESURVEY_ADMIN_PASSWORD is not set`]);
    expect(resultOf(live({ command, exitCode: 0, surveys: [] }), 'AUD-LIVE-SURVEYS')).toMatchObject({ status: 'pass', evidence: ['aucune enquête ouverte aux réponses'] });
    const ok = resultOf(live({ command, exitCode: 0, surveys: [codesOnly] }), 'AUD-LIVE-SURVEYS');
    expect(ok.status).toBe('pass');
    expect(ok.evidence).toEqual([expect.stringMatching(/^enquête 100001 « Rythmes scolaires » : anonymized Y, .*allowregister N, end date 2027-03-31 23:59:00, participant table present, 40 code\(s\)/)]);
    const open = { ...codesOnly, sid: 100002, findings: codesOnly.findings.map((f) => (f.setting === 'allowregister' ? { ...f, ok: false, actual: 'Y', fix: 'registration hands a code to anyone who asks' } : f)) };
    expect(resultOf(live({ command, exitCode: 1, surveys: [codesOnly, open] }), 'AUD-LIVE-SURVEYS').evidence).toEqual([
      'ÉCHEC : enquête 100002 « Rythmes scolaires » : allowregister = Y, attendu N ; correction : registration hands a code to anyone who asks',
    ]);
    expect(CITIZEN_FINDINGS.F8).toBeDefined();
    expect([...AUDIT_CHECKS, ...LIVE_CHECKS].filter((k) => k.answers.includes('F8')).map((k) => k.id)).toEqual(['AUD-LIVE-SURVEYS']);
  });

  it('AUD-IMAGES-CITY-REGISTRY: an image from another registry', () => {
    const c = audited(EXAMPLE, (outdir) => editStack(outdir, (json) => { json.resource.docker_image['image-base'].name = 'docker.io/library/debian:bookworm'; }));
    expect(resultOf(c, 'AUD-IMAGES-CITY-REGISTRY').evidence).toEqual(['ÉCHEC : ville-exemple-serveur-1 : docker.io/library/debian:bookworm']);
  });

  it('AUD-TOR-ACCESS and AUD-MAIL-CITY-RELAY: no onion service, a relay at a declared provider', () => {
    const city = exampleCity();
    city.services.onion.enabled = false;
    city.mail.relay = { ...city.mail.relay, host: 'smtp.routeur-exemple.example', address: '192.0.2.40' };
    city.externalParties = [{ name: 'Routeur Exemple', host: 'smtp.routeur-exemple.example', address: '192.0.2.40/32', role: 'mail-relay', reason: 'test: the planted violation' }];
    const c = audited(writeCity(city));
    expect(failing(c)).toEqual(expect.arrayContaining(['AUD-TOR-ACCESS', 'AUD-MAIL-CITY-RELAY', 'AUD-FLOWS-TO-CITY']));
    expect(resultOf(c, 'AUD-MAIL-CITY-RELAY').evidence).toEqual(['ÉCHEC : relais smtp.routeur-exemple.example (192.0.2.40) : Routeur Exemple']);
  });

  it('AUD-PUBLIC-NAMES-OWNED: a public name at a declared provider', () => {
    const city = exampleCity();
    city.services.limesurvey.hostname = 'ville-exemple.enquetes-saas.example';
    city.externalParties = [{ name: 'Enquêtes SaaS', host: 'enquetes-saas.example', role: 'public-hostname', reason: 'test: the planted violation' }];
    expect(resultOf(audited(writeCity(city)), 'AUD-PUBLIC-NAMES-OWNED').evidence).toEqual(['ÉCHEC : ville-exemple.enquetes-saas.example (limesurvey) n’est pas sous ville-exemple.fr']);
  });
});

describe('npm run audit', () => {
  const audit = (args: string[]) => run(TSX, ['scripts/audit.ts', ...args]);

  it('prints its usage with --help', () => {
    const r = audit(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/usage: npm run audit -- --config FILE\|DIR/);
  });

  it('writes the three reports, exits 0 when every check passes and 1 when one fails, saying which and how to fix it', () => {
    const out = join(tempDir(), 'rapport');
    const passing = audit(['--config', EXAMPLE, '--out', out]);
    expect(passing.status, passing.stderr).toBe(0);
    expect(passing.stderr).toMatch(/\[1\/3\].*\n.*\[2\/3\].*\n.*\[3\/3\]/);
    expect(passing.stderr).toContain('13/13 checks pass');
    for (const f of ['audit.html', 'audit.json', 'audit.md', 'audit.schema.json']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).summary).toEqual({ checks: 13, passed: 13, failed: 0 });
    // A city image of LimeSurvey enforces no retention Socle knows of; run again into the same report: replaced, not refused.
    const city = exampleCity();
    city.services.limesurvey.image = 'limesurvey-ville-exemple';
    const r = audit(['--config', writeCity(city), '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('NON CONFORME AUD-RETENTION-ENFORCED (ville-exemple)');
    expect(r.stderr).toContain('12/13 checks pass');
    expect(JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).summary).toEqual({ checks: 13, passed: 12, failed: 1 });
  });

  it('refuses bad input with exit 2 and writes nothing', () => {
    expect(audit([]).status).toBe(2);
    // The live part's flags are checked before anything is resolved or contacted.
    for (const [args, message] of [
      [['--dns', '127.0.0.1'], /--dns, --ca, --page, --tor, --onion-at, --mail, --surveys and --timeout are for the live part: add --live/],
      [['--live', '--timeout', '0'], /--timeout 0: give whole seconds from 1 to 300/],
      [['--live', '--timeout', '2.5'], /--timeout 2\.5: give whole seconds from 1 to 300/],
      [['--live', '--tor', '10.0.0.9:9050'], /--tor 10\.0\.0\.9:9050: give the SOCKS port of a Tor on this machine/],
      [['--live', '--tor', '127.0.0.1:9050', '--onion-at', '10.20.0.10'], /give one/],
      [['--live', '--onion-at', 'proxy.ville-exemple.fr'], /--onion-at proxy\.ville-exemple\.fr: give the front host's IPv4 address/],
      [['--live', '--onion-at', '192.0.2.10'], /--onion-at 192\.0\.2\.10: outside the networks Commune de Ville-Exemple owns/],
      [['--live', '--dns', 'resolveur.ville-exemple.fr'], /--dns resolveur\.ville-exemple\.fr: give the resolver's address/],
      [['--live', '--ca', '/nonexistent/ca.pem'], /--ca \/nonexistent\/ca\.pem: no such file/],
      [['--live', '--ca', EXAMPLE], /not a PEM certificate/],
      [['--live', '--page', 'pas une page'], /--page pas une page: give a public name and a path/],
    ] as const) {
      const r = audit(['--config', EXAMPLE, ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const bad = writeCity(readFileSync(EXAMPLE, 'utf8').replace('    site: Hôtel de ville, salle serveurs (sous-sol)\n', '    site: 42\n'));
    const out = join(tempDir(), 'rapport');
    const r = audit(['--config', bad, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ville\.yaml:\d+.*hosts\.0\.site/);
    expect(existsSync(out)).toBe(false);
    const busy = tempDir();
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    const refused = audit(['--config', EXAMPLE, '--out', busy]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('holds files that are not an audit report');
    expect(readFileSync(join(busy, 'notes.txt'), 'utf8')).toBe('mine');
  });
});

describe('npm run audit --letters: a print run read back as printed', () => {
  const run_ = join(tempDir('socle-audit-letters-'), 'tirage');
  const audit = (args: string[]) => run(TSX, ['scripts/audit.ts', '--config', EXAMPLE, '--out', join(tempDir(), 'rapport'), ...args]);
  const lettersCheck = (out: string) => JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).checks.find((c: any) => c.id === 'AUD-LETTERS-APART');

  it('passes a print run of npm run invitations, and fails one where a code reached the envelopes and a name the codes', () => {
    invitationsOk(['generate', '--addresses', join(LETTER_FIXTURES, 'adresses.csv'), '--codes', '12', '--out', run_, ...SURVEY]);
    const out = join(tempDir(), 'rapport');
    const r = run(TSX, ['scripts/audit.ts', '--config', EXAMPLE, '--out', out, '--letters', run_]);
    expect(r.status, r.stderr).toBe(0);
    const passed = lettersCheck(out);
    expect(passed.status).toBe('pass');
    expect(passed.evidence[0]).toMatch(/: 12 codes, \d+ enveloppes ; 5 fichiers lus tels qu’imprimés \(codes\/codes-sheets\.json, codes\/codes\.pdf, envelopes\/envelopes-sheets\.json, envelopes\/envelopes\.pdf, limesurvey-participants\.csv\)/);
    // The violations of the SaaS letters, planted: a code beside the envelopes, a name beside the codes.
    const code = JSON.parse(readFileSync(join(run_, 'codes', 'codes-sheets.json'), 'utf8')).sheets[0].codes[0];
    const name = JSON.parse(readFileSync(join(run_, 'envelopes', 'envelopes-sheets.json'), 'utf8')).sheets[0].addresses[0].name;
    writeFileSync(join(run_, 'envelopes', 'publipostage.csv'), `nom;code\n${name};${code}\n`);
    writeFileSync(join(run_, 'codes', 'liste.txt'), `${name}\n`);
    const planted = join(tempDir(), 'rapport');
    expect(run(TSX, ['scripts/audit.ts', '--config', EXAMPLE, '--out', planted, '--letters', run_]).status).toBe(1);
    expect(lettersCheck(planted).evidence).toEqual([
      `ÉCHEC : codes/liste.txt (côté codes) porte le nom « ${name} »`,
      `ÉCHEC : envelopes/publipostage.csv (côté envelopes) porte le code ${code}`,
    ]);
  }, 180_000);

  it('refuses a directory that is not a print run, with exit 2', () => {
    const r = audit(['--letters', tempDir()]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no codes\/codes-sheets\.json here/);
  });
});

