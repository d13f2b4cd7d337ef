// The auditor's checks: each one answers a finding of the citizen audit behind Socle (or what it
// implies), is a pure function of the audit model, and says what decided it and how to fix it.
// A check never reads the machine: the static model (model.ts) or the live probes feed it.
import type { AuditedCommune } from './model.js';
import { inNetwork, isUnder } from '../config/checks/ownership.js';
import { COOKIES_NOTICE_PATH, listedCookies } from '../../services/reverse-proxy/cookies-notice.js';

/** The citizen audit's findings, as it made them by hand (French, as published). */
export const CITIZEN_FINDINGS = {
  F1: 'Les pages passaient par un réseau de diffusion (CDN) américain (CNAME chez un tiers).',
  F2: 'Le courrier partait par Mandrill, avec Return-Path et Message-ID chez le prestataire et des liens de suivi.',
  F3: 'Google Analytics mesurait l’audience.',
  F4: 'Les mentions légales nommaient un autre hébergeur.',
  F5: 'Le nom du citoyen et son code « anonyme » figuraient sur le même courrier.',
  F6: 'Aucun accès par Tor.',
  F7: 'Un bandeau de consentement pré-coché.',
  F8: 'Un compte exigé là où un code à usage unique suffit.',
  F9: 'Des données personnelles sur des machines que la ville ne possède pas.',
  F10: 'Un prestataire dans la chaîne, que la ville ne contrôle pas.',
} as const;
export type CitizenFinding = keyof typeof CITIZEN_FINDINGS;

export interface CheckOutcome {
  readonly passed: boolean;
  /** The records, files or settings that decided it, one line each. */
  readonly evidence: readonly string[];
}

export interface AuditCheck {
  /** Stable id: reports, a city's CI and suppressions refer to it. */
  readonly id: string;
  readonly answers: readonly CitizenFinding[];
  /** What a pass proves, in one line (French, then English). */
  readonly statement: string;
  readonly statementEn: string;
  /** What to change when it fails. */
  readonly fix: string;
  readonly run: (c: AuditedCommune) => CheckOutcome;
}

const outcome = (failures: readonly string[], passes: readonly string[]): CheckOutcome =>
  ({ passed: failures.length === 0, evidence: failures.length ? failures.map((f) => `ÉCHEC : ${f}`) : passes });

const personalStores = (c: AuditedCommune) => c.stores.filter((s) => s.personal);

/** A site as the report names it: its public name, or the onion service's port. */
const siteName = (s: AuditedCommune['sites'][number]) => (s.serverName === '_' ? `service onion (port ${s.listen})` : s.serverName);

/** CSP sources that name no other host. */
const LOCAL_SOURCES = new Set(["'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", 'data:', 'blob:']);

const decodeHtml = (s: string) => s.replace(/<[^>]+>/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();

/** The text of the section of `html` under the `<h2>` titled `title`, tags removed. */
function section(html: string, title: string): string | undefined {
  const m = new RegExp(`<h2>${title}</h2>([\\s\\S]*?)(?=<h2>|</body>)`).exec(html);
  return m ? m[1] : undefined;
}

/** Whether `host` is one of the commune's names (a cookie's domain may start with a dot). */
const owned = (c: AuditedCommune, host: string) => c.owns.domains.some((d) => isUnder(host.replace(/^\./, '').toLowerCase(), d));

export const AUDIT_CHECKS: readonly AuditCheck[] = [
  {
    id: 'AUD-DATA-ON-CITY-HOSTS',
    answers: ['F9'],
    statement: 'Toutes les données personnelles sont sur des machines dont la commune est propriétaire.',
    statementEn: 'Every store of personal data is on a machine the commune owns.',
    fix: 'move the store to a host of the city file whose owner is the commune (hosts[].owner = commune.legalEntity), or back up to city storage only',
    run: (c) => outcome(
      personalStores(c).filter((s) => s.owner !== c.legalEntity).map((s) => `${s.id} (${s.service}) est sur ${s.host}, propriété de ${s.owner}`),
      personalStores(c).map((s) => `${s.id} : ${s.host}, ${s.owner}${s.site ? `, ${s.site}` : ''}`),
    ),
  },
  {
    id: 'AUD-RETENTION-ENFORCED',
    answers: ['F9'],
    statement: 'Chaque durée de conservation de données personnelles est appliquée par un mécanisme nommé, pas seulement déclarée.',
    statementEn: 'Every retention of personal data is enforced by a named mechanism, not only declared.',
    fix: 'give the volume a retentionEnforcedBy naming what deletes the data (a scheduled deletion Socle runs), or shorten what is kept to what something deletes',
    run: (c) => outcome(
      personalStores(c).filter((s) => !s.enforcedBy).map((s) => `${s.id} : « ${s.retention} », et rien ne supprime ces données à l’échéance`),
      personalStores(c).map((s) => `${s.id} : ${s.retention} — appliqué par ${s.enforcedBy}`),
    ),
  },
  {
    id: 'AUD-BACKUPS-ON-CITY-SITES',
    answers: ['F9'],
    statement: 'Les sauvegardes sont sur le stockage de la commune, dans un lieu qu’elle déclare.',
    statementEn: 'Backups are on the commune\'s storage, at a site it declares.',
    fix: 'back up to a target on city storage (a host under commune.owns) and give each target its site (services.backup.targets[].site)',
    run: (c) => {
      const repos = c.stores.filter((s) => s.kind === 'backup-repository');
      return outcome(
        repos.flatMap((s) => [
          ...(s.owner !== c.legalEntity ? [`${s.id} sur ${s.host} appartient à ${s.owner}`] : []),
          ...(s.site ? [] : [`${s.id} sur ${s.host} : aucun lieu déclaré (services.backup.targets[].site)`]),
        ]),
        repos.length ? repos.map((s) => `${s.id} : ${s.host}, ${s.owner}, ${s.site}`) : ['aucune cible de sauvegarde hors des machines déclarées'],
      );
    },
  },
  {
    id: 'AUD-FLOWS-TO-CITY',
    answers: ['F2', 'F10'],
    statement: 'Tout flux qui quitte une machine va vers la commune (ou vers le réseau Tor, pour le service onion) : aucun prestataire dans la chaîne.',
    statementEn: 'Every flow leaving a host goes to the commune (or to the Tor network, for the onion service): no vendor in the chain.',
    fix: 'point the setting at a city machine (under commune.owns), or remove the external party from the city file',
    run: (c) => outcome(
      c.flows.filter((f) => !f.ownedByCity && f.to !== 'any').map((f) => `${f.from} → ${f.to}${f.port ? `:${f.port}` : ''} (${f.reason}) : ${f.owner}`),
      c.flows.map((f) => `${f.from} → ${f.to === 'any' ? 'réseau Tor' : f.to}${f.port ? `:${f.port}` : ''} : ${f.owner} (${f.reason})`),
    ),
  },
  {
    id: 'AUD-MAIL-CITY-RELAY',
    answers: ['F2'],
    statement: 'Le courrier part par le relais de la commune (son Zimbra), à une adresse qu’elle possède.',
    statementEn: 'Mail leaves through the commune\'s own relay (its Zimbra), at an address it owns.',
    fix: 'set mail.relay.host and mail.relay.address to the city\'s Zimbra, under commune.owns',
    run: (c) => outcome(
      c.mailRelay.ownedByCity ? [] : [`relais ${c.mailRelay.host} (${c.mailRelay.address}) : ${c.mailRelay.owner}`],
      [`relais ${c.mailRelay.host} (${c.mailRelay.address}) : ${c.mailRelay.owner}`],
    ),
  },
  {
    id: 'AUD-PUBLIC-NAMES-OWNED',
    answers: ['F1'],
    statement: 'Chaque nom public est dans un domaine de la commune.',
    statementEn: 'Every public name is in a domain the commune owns.',
    fix: 'use a name under commune.owns.domains for the service',
    run: (c) => outcome(
      c.publicNames.filter((n) => !owned(c, n.hostname)).map((n) => `${n.hostname} (${n.service}) n’est pas sous ${c.owns.domains.join(', ')}`),
      c.publicNames.map((n) => `${n.hostname} (${n.service})`),
    ),
  },
  {
    id: 'AUD-IMAGES-CITY-REGISTRY',
    answers: ['F10'],
    statement: 'Chaque image de conteneur vient du registre de la commune.',
    statementEn: 'Every container image comes from the commune\'s registry.',
    fix: 'build the image with npm run build-images (or mirror it with npm run mirror-images) into the city registry',
    run: (c) => outcome(
      c.images.filter((i) => !i.name.startsWith(`${c.registry}/`)).map((i) => `${i.stack} : ${i.name}`),
      [...new Set(c.images.map((i) => i.name))],
    ),
  },
  {
    id: 'AUD-POLICY',
    answers: ['F10'],
    statement: 'Les règles de Socle passent, et chaque exception est écrite avec sa raison.',
    statementEn: 'Socle\'s policy rules pass, and every exception is written with its reason.',
    fix: 'fix what the rule names (docs/policy-rules.md), or suppress it in the city file with a written reason',
    run: (c) => outcome(
      c.policy.filter((p) => p.status === 'non-compliant' && p.level === 'error').map((p) => `${p.ruleId} sur ${p.path}`),
      c.policy.filter((p) => p.status === 'suppressed').map((p) => `exception ${p.ruleId} sur ${p.path} : ${p.reason ?? '(sans raison)'}`).concat(c.policy.length ? [] : ['aucune règle en échec, aucune exception']),
    ),
  },
  {
    id: 'AUD-LEGAL-NOTICE-HOST',
    answers: ['F4'],
    statement: 'Les mentions légales nomment la commune comme hébergeur, avec ses machines et leurs lieux, son adresse et son téléphone.',
    statementEn: 'The legal notice names the commune as the host, with its machines and their sites, its address and phone.',
    fix: 'redeploy: the proxy serves the legal notice Socle renders from the city file (commune, hosts[].site and hosts[].owner); do not edit it by hand',
    run: (c) => {
      if (c.legalNotices.length === 0) return outcome(['aucune page de mentions légales servie par le proxy'], []);
      const failures: string[] = [];
      for (const { stack, html } of c.legalNotices) {
        const hosting = section(html, 'Hébergement');
        const publisher = decodeHtml(section(html, 'Éditeur') ?? '');
        if (!hosting) { failures.push(`${stack} : pas de section « Hébergement »`); continue; }
        const text = decodeHtml(hosting);
        if (!text.includes(`hébergés par ${c.legalEntity}`)) failures.push(`${stack} : l’hébergeur nommé n’est pas ${c.legalEntity} : « ${text.slice(0, 160)} »`);
        const rows = [...hosting.matchAll(/<tr><td>([\s\S]*?)<\/td><td>([\s\S]*?)<\/td><td>([\s\S]*?)<\/td>/g)].map((m) => m.slice(1, 4).map(decodeHtml));
        for (const h of c.hosts) {
          const row = rows.find((r) => r[0] === h.name);
          if (!row) failures.push(`${stack} : la machine ${h.name} n’y figure pas`);
          else if (row[1] !== h.owner || row[2] !== h.site) failures.push(`${stack} : ${h.name} y est « ${row[1]}, ${row[2]} », le fichier de la commune dit « ${h.owner}, ${h.site} »`);
        }
        for (const r of rows) if (!c.hosts.some((h) => h.name === r[0])) failures.push(`${stack} : la machine « ${r[0]} » (${r[1]}) n’est pas une machine de la commune`);
        for (const [what, value] of [['l’adresse', c.address.split(', ')[0]], ['le téléphone', c.phone], ['le directeur de la publication', c.publicationDirector]] as const) {
          if (!publisher.includes(value) && !decodeHtml(html).includes(value)) failures.push(`${stack} : ${what} « ${value} » n’y figure pas`);
        }
      }
      return outcome(failures, c.legalNotices.map((n) => `${n.stack} : hébergé par ${c.legalEntity} ; ${c.hosts.map((h) => `${h.name} (${h.site})`).join(', ')}`));
    },
  },
  {
    id: 'AUD-REGISTER-COMPLETE',
    answers: ['F9'],
    statement: 'Le registre des traitements (article 30) servi aux usagers cite chaque stockage de données personnelles et chaque lieu de sauvegarde, et ne tait aucun prestataire.',
    statementEn: 'The Art. 30 register served to citizens names every store of personal data and every backup site, and hides no provider.',
    fix: 'redeploy: the proxy serves the register Socle renders from the services\' declared processing and volumes; a service with personal data declares its processing (platform.declareProcessing)',
    run: (c) => {
      if (c.registers.length === 0) return outcome(['aucun registre des traitements servi par le proxy'], []);
      const failures: string[] = [];
      for (const { stack, html } of c.registers) {
        for (const s of c.stores.filter((x) => x.personal)) {
          if (s.kind === 'volume' && !html.includes(`data-volume="${s.id}"`)) failures.push(`${stack} : le stockage ${s.id} (${s.service}) n’y figure pas`);
          if (s.kind === 'backup-repository' && !decodeHtml(section(html, 'Sauvegardes : où sont les copies') ?? '').includes(`${s.id.replace(/^restic:/, '')} : ${s.host}, ${s.site ?? 'lieu non déclaré'}`)) failures.push(`${stack} : la sauvegarde ${s.id} (${s.host}) n’y figure pas avec son lieu`);
        }
        const transfers = decodeHtml(section(html, 'Transferts hors de l’Union européenne et sous-traitants') ?? '');
        for (const p of c.externalParties) if (!transfers.includes(p.name)) failures.push(`${stack} : le prestataire ${p.name} (${p.role}) n’y figure pas`);
        if (c.externalParties.length === 0 && !transfers.startsWith('Aucun')) failures.push(`${stack} : la section des transferts ne dit pas « Aucun »`);
      }
      return outcome(failures, c.registers.map((r) => `${r.stack} : ${c.stores.filter((s) => s.personal).length} stockages et sauvegardes cités ; transferts : ${c.externalParties.length ? c.externalParties.map((p) => p.name).join(', ') : 'aucun'}`));
    },
  },
  {
    id: 'AUD-NO-THIRD-PARTY-CONTENT',
    answers: ['F3', 'F1'],
    statement: 'Chaque site n’autorise le navigateur à charger scripts, polices, images, cadres et connexions que depuis lui-même (Content-Security-Policy).',
    statementEn: 'Every site lets the browser load scripts, fonts, images, frames and connections from itself only (Content-Security-Policy).',
    fix: 'serve the asset from the app itself; the proxy sends the CSP of the route (services/<service>/index.ts), never one naming another host',
    run: (c) => outcome(
      c.sites.flatMap((s) => {
        if (!s.csp) return [`${siteName(s)} : aucune Content-Security-Policy`];
        const foreign = s.csp.split(';').flatMap((d) => d.trim().split(/\s+/).slice(1)).filter((src) => !LOCAL_SOURCES.has(src));
        return foreign.length ? [`${siteName(s)} autorise ${[...new Set(foreign)].join(' ')}`] : [];
      }),
      c.sites.map((s) => `${siteName(s)} : ${s.csp}`),
    ),
  },
  {
    id: 'AUD-NO-TRACKING-COOKIE',
    answers: ['F7', 'F3'],
    statement: 'La mesure d’audience ne dépose aucun cookie et n’envoie rien ailleurs qu’au site lui-même : elle n’a pas besoin de consentement, donc d’aucun bandeau.',
    statementEn: 'Audience measurement sets no cookie and sends nothing but to the site itself: it needs no consent, hence no banner.',
    fix: 'use Socle\'s tracker (services/matomo/templates/socle-audience.js.tmpl): disableCookies, and the tracker URL on the site\'s own address',
    run: (c) => {
      const t = c.trackerScript;
      if (t === undefined) return outcome([], ['aucune mesure d’audience']);
      const failures: string[] = [];
      if (!/_paq\.push\(\['disableCookies'\]\)/.test(t)) failures.push('le traceur servi ne désactive pas les cookies (disableCookies)');
      const elsewhere = [...t.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi)].map((m) => m[0]);
      if (elsewhere.length) failures.push(`le traceur servi nomme d’autres hôtes : ${[...new Set(elsewhere)].join(', ')}`);
      const tracker = /setTrackerUrl', '([^']+)'/.exec(t)?.[1];
      if (!tracker?.startsWith('/')) failures.push(`adresse de collecte hors du site : ${tracker ?? 'absente'}`);
      return outcome(failures, [`traceur servi : disableCookies, collecte sur ${tracker} (le site lui-même)`]);
    },
  },
  {
    id: 'AUD-TOR-ACCESS',
    answers: ['F6'],
    statement: 'Les services publics sont aussi accessibles par un service onion (Tor).',
    statementEn: 'The public services are also reachable as an onion service (Tor).',
    fix: 'set services.onion.enabled: true in the city file',
    run: (c) => outcome(c.onion ? [] : ['services.onion.enabled est false'], ['services.onion.enabled : true']),
  },
];

/** Response headers a content delivery network adds: their presence means a CDN is in the path. */
const CDN_HEADERS = /^(cf-ray|cf-cache-status|x-amz-cf-id|x-amz-cf-pop|x-served-by|x-fastly-request-id|x-akamai-[\w-]+|akamai-[\w-]+|x-cdn|x-azure-ref|x-edgeconnect-[\w-]+)$/;
const CDN_VALUES = /cloudflare|cloudfront|akamai|fastly|varnish|edgecast|incapsula/i;
const ONE_YEAR_S = 31_536_000;


/** The checks of what a deployed city answers (npm run audit --live), run when it was observed. */
export const LIVE_CHECKS: readonly AuditCheck[] = [
  {
    id: 'AUD-LIVE-DNS',
    answers: ['F1', 'F10'],
    statement: 'Chaque nom public se résout sans CNAME chez un tiers, vers une adresse de la commune, dans une zone dont les serveurs de noms sont à la commune.',
    statementEn: 'Every public name resolves without a CNAME at a third party, to an address the commune owns, in a zone whose name servers are the commune\'s.',
    fix: 'point the record at the proxy\'s own address (an A record, inside commune.owns.networks), and host the zone on the city\'s name servers',
    run: (c) => {
      const live = c.live!;
      const failures: string[] = [];
      for (const d of live.dns) {
        if (d.error) failures.push(`${d.name} : pas de réponse (${d.error})`);
        for (const cname of d.cnames) if (!owned(c, cname)) failures.push(`${d.name} : CNAME vers ${cname}, hors de ${c.owns.domains.join(', ')}`);
        for (const a of d.addresses) if (!c.owns.networks.some((n) => inNetwork(a, n))) failures.push(`${d.name} : adresse ${a} hors des réseaux de la commune (${c.owns.networks.join(', ')})`);
        if (!d.error && d.addresses.length === 0) failures.push(`${d.name} : aucune adresse`);
      }
      for (const z of live.zones) {
        if (z.error || z.nameServers.length === 0) failures.push(`zone ${z.zone} : aucun serveur de noms (NS) répondu (${z.error ?? 'vide'})`);
        for (const ns of z.nameServers) if (!owned(c, ns)) failures.push(`zone ${z.zone} : serveur de noms ${ns} chez un tiers`);
      }
      return outcome(failures, [
        ...live.dns.map((d) => `${d.name} → ${[...d.cnames, ...d.addresses].join(' → ')} (résolveur ${live.resolver})`),
        ...live.zones.map((z) => `zone ${z.zone} : NS ${z.nameServers.join(', ')}`),
      ]);
    },
  },
  {
    id: 'AUD-LIVE-HTTPS',
    answers: ['F1'],
    statement: 'Chaque nom répond en HTTPS (TLS 1.2 ou plus, TLS 1.1 refusé), avec HSTS d’au moins un an, une CSP, une Referrer-Policy, un security.txt, et sans en-tête de CDN.',
    statementEn: 'Every name answers HTTPS (TLS 1.2 or later, TLS 1.1 refused) with HSTS of a year or more, a CSP, a Referrer-Policy, security.txt, and no CDN header.',
    fix: 'serve the name from Socle\'s proxy on the city\'s address (npm run deploy); remove any CDN or front service in between',
    run: (c) => {
      const failures: string[] = [];
      const passes: string[] = [];
      for (const h of c.live!.https) {
        const where = `${h.name}${h.address ? ` (${h.address}:${h.port})` : ''}`;
        if (h.skipped) { failures.push(`${where} : non sondé : ${h.skipped}`); continue; }
        if (h.error) { failures.push(`${where} : ${h.error}`); continue; }
        const headers = h.headers ?? {};
        if (!['TLSv1.2', 'TLSv1.3'].includes(h.tlsVersion ?? '')) failures.push(`${where} : ${h.tlsVersion}`);
        if (h.oldTls === 'accepted') failures.push(`${where} : accepte TLS 1.1`);
        const hsts = Number(/max-age=(\d+)/.exec(headers['strict-transport-security'] ?? '')?.[1] ?? 0);
        if (hsts < ONE_YEAR_S) failures.push(`${where} : HSTS ${headers['strict-transport-security'] ?? 'absent'} (au moins max-age=${ONE_YEAR_S})`);
        if (!headers['content-security-policy']) failures.push(`${where} : pas de Content-Security-Policy`);
        if (!headers['referrer-policy']) failures.push(`${where} : pas de Referrer-Policy`);
        if (h.securityTxt?.status !== 200 || !/^Contact: /m.test(h.securityTxt.body)) failures.push(`${where} : /.well-known/security.txt ${h.securityTxt?.status ?? '?'} sans « Contact: »`);
        const cdn = Object.entries(headers).filter(([k, v]) => CDN_HEADERS.test(k) || (['server', 'via', 'x-cache'].includes(k) && CDN_VALUES.test(v)));
        for (const [k, v] of cdn) failures.push(`${where} : en-tête de CDN ${k}: ${v}`);
        passes.push(`${where} : ${h.tlsVersion} ${h.cipher}, TLS 1.1 ${h.oldTls}, HSTS max-age=${hsts}, Referrer-Policy ${headers['referrer-policy']}, security.txt ${h.securityTxt?.status}`);
      }
      return outcome(failures, passes);
    },
  },
  {
    id: 'AUD-LIVE-NO-THIRD-PARTY-REQUEST',
    answers: ['F3', 'F1'],
    statement: 'Dans Chromium, aucune page publique ne fait ni ne tente de requête vers un autre hôte (script, police, image, cadre, pixel).',
    statementEn: 'In Chromium, no public page makes or attempts a request to another host (script, font, image, frame, pixel).',
    fix: 'serve the asset from the app itself, or remove it from the page; the evidence names the page and the address it wanted',
    run: (c) => {
      const failures: string[] = [];
      for (const p of c.live!.pages) {
        if (p.error) { failures.push(`${p.url} : ${p.error}`); continue; }
        for (const r of p.requests) {
          const u = new URL(r);
          if (['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) && !owned(c, u.hostname)) failures.push(`${p.url} a demandé ${r}`);
        }
        for (const b of p.blocked) if (/^(https?|wss?):/.test(b)) failures.push(`${p.url} a tenté de charger ${b} (bloqué par la CSP)`);
      }
      return outcome(failures, c.live!.pages.map((p) => `${p.url} : ${p.status}, ${p.requests.length} requête(s), toutes vers ${[...new Set(p.requests.map((r) => new URL(r).host))].join(', ') || '—'}`));
    },
  },
  {
    id: 'AUD-LIVE-NO-COOKIE-BEFORE-CONSENT',
    answers: ['F7'],
    statement: 'Avant tout clic, aucune page ne dépose de cookie persistant ni de cookie d’un autre domaine : seuls des cookies de session du site lui-même.',
    statementEn: 'Before any click, no page sets a persistent cookie or another domain\'s cookie: only the site\'s own session cookies.',
    fix: 'set the cookie only after the visitor agrees, or make it a session cookie the service strictly needs; the evidence names the page and the cookie',
    run: (c) => {
      const failures: string[] = [];
      for (const p of c.live!.pages) for (const k of p.cookies) {
        if (!owned(c, k.domain)) failures.push(`${p.url} : cookie ${k.name} du domaine ${k.domain}`);
        else if (!k.session) failures.push(`${p.url} : cookie persistant ${k.name} (jusqu’au ${k.expires}) déposé sans consentement`);
      }
      const all = c.live!.pages.flatMap((p) => p.cookies.map((k) => `${new URL(p.url).host} : ${k.name} (session)`));
      return outcome(failures, all.length ? [...new Set(all)] : ['aucun cookie déposé au chargement des pages']);
    },
  },
  {
    id: 'AUD-LIVE-ONION',
    answers: ['F6'],
    statement: 'Chaque site annonce son adresse onion (Onion-Location), et le service onion sert les mêmes pages sans aucune requête vers un site ordinaire (clearnet).',
    statementEn: 'Every site announces its onion address (Onion-Location), and the onion service serves the same pages with no request to a clearnet host.',
    fix: 'keep services.onion.enabled and the app\'s pages free of absolute links to its clearnet name; run the audit with --tor HOST:PORT (the auditor\'s Tor) or --onion-at ADDRESS (the front host, from the server room)',
    run: (c) => {
      if (!c.onion) return outcome([], ['pas de service onion dans le fichier de la commune (voir AUD-TOR-ACCESS)']);
      const o = c.live!.onion;
      if (!o) return outcome(['sites onion non parcourus : relancer avec --tor 127.0.0.1:9050 (le Tor de l’auditeur) ou --onion-at ADRESSE (le proxy, depuis la salle serveurs)'], []);
      const failures: string[] = [];
      for (const s of o.sites) if (!s.origin) failures.push(`${s.name} n’annonce pas d’adresse onion v3 (en-tête Onion-Location)`);
      for (const p of o.pages) {
        if (p.error || p.status !== 200) { failures.push(`${p.url} : ${p.error ?? p.status ?? 'pas de réponse'}`); continue; }
        const own = new URL(p.url).host;
        for (const r of p.requests) if (/^(https?|wss?):/.test(r) && new URL(r).host !== own) failures.push(`${p.url} a demandé ${r} (hors du site onion ; requête non envoyée)`);
        for (const b of p.blocked) if (/^(https?|wss?):/.test(b)) failures.push(`${p.url} a tenté de charger ${b} (bloqué par la CSP)`);
      }
      return outcome(failures, [`${o.pages.length} page(s) de ${o.sites.filter((s) => s.origin).length} site(s) onion, via ${o.via} : toutes servies, aucune requête hors du site onion`]);
    },
  },
  {
    id: 'AUD-LIVE-MAIL',
    answers: ['F2'],
    statement: 'Depuis le réseau de courrier de la pile, comme une application, le relais de la commune répond en TLS avec un certificat valide pour son nom, avant tout mot de passe, et accepte le compte de la commune.',
    statementEn: 'From the stack\'s mail network, as an app, the city\'s relay answers over TLS with a certificate valid for its name, before any password, and accepts the city\'s account.',
    fix: 'apply the fix npm run mail -- check prints (docs/mail.md); run the audit with --mail and the relay password in the environment the city file names',
    run: (c) => {
      const m = c.live!.mail;
      if (!m) return outcome(['relais non vérifié : relancer avec --mail (le mot de passe du relais dans l’environnement, comme pour npm run mail -- check)'], []);
      if (m.hosts.length === 0) return outcome([`${m.command} n’a rien vérifié (code ${m.exitCode}) : ${m.error ?? ''}`], []);
      return outcome(
        m.hosts.filter((h) => !h.ok).map((h) => `${h.host} : échec à l’étape ${h.failure?.step ?? '?'} : ${h.failure?.message ?? ''} ; correction : ${h.failure?.fix ?? ''}`),
        m.hosts.filter((h) => h.ok).map((h) => `${h.host} : ${h.route} ; ${h.tls?.version} ${h.tls?.cipher}, certificat [${h.tls?.certificate.names.join(', ')}] de ${h.tls?.certificate.issuer} ; compte ${h.auth?.user} accepté`),
      );
    },
  },
  {
    id: 'AUD-LIVE-SURVEYS',
    answers: ['F8'],
    statement: 'Chaque enquête ouverte aux réponses ne s’ouvre qu’avec un code à usage unique : ni compte, ni inscription, ni liste publique ; ses réponses sont anonymes et elle a une date de fin.',
    statementEn: 'Every survey open to answers opens with a single-use code only: no account, no registration, no public listing; its answers are anonymous and it has an end date.',
    fix: 'apply the fix npm run survey -- check --survey ID prints for each failing survey (docs/surveys.md); run the audit with --surveys and LimeSurvey\'s admin password in SOCLE_LIMESURVEY_ADMIN_PASSWORD',
    run: (c) => {
      const s = c.live!.surveys;
      if (!s) return outcome(['enquêtes non vérifiées : relancer avec --surveys (le mot de passe administrateur de LimeSurvey dans SOCLE_LIMESURVEY_ADMIN_PASSWORD, comme pour npm run survey -- check)'], []);
      if (s.error) return outcome([`${s.command} n’a rien vérifié (code ${s.exitCode}) : ${s.error}`], []);
      const named = (r: (typeof s.surveys)[number]) => `enquête ${r.sid} « ${r.title} »`;
      return outcome(
        s.surveys.flatMap((r) => r.findings.filter((f) => !f.ok).map((f) => `${named(r)} : ${f.setting} = ${f.actual}, attendu ${f.expected} ; correction : ${f.fix ?? ''}`)),
        s.surveys.length
          ? s.surveys.map((r) => `${named(r)} : ${r.findings.map((f) => `${f.setting} ${f.actual}`).join(', ')}`)
          : ['aucune enquête ouverte aux réponses'],
      );
    },
  },
  {
    id: 'AUD-LIVE-COOKIES-NOTICE',
    answers: ['F7'],
    statement: 'La page « Cookies et traceurs » est servie sur chaque site et cite chaque cookie que le navigateur a reçu de ce site.',
    statementEn: 'The cookies and trackers notice is served on every site and lists every cookie the browser received from that site.',
    fix: 'declare the cookie the app sets (ProxyRoute.cookies in its service\'s construct) and redeploy, or stop setting it; the evidence names the page and the cookie',
    run: (c) => {
      const listed = c.cookieNotices.flatMap((n) => listedCookies(n.html));
      const failures: string[] = [];
      if (c.cookieNotices.length === 0) failures.push('aucune page « Cookies et traceurs » servie par le proxy');
      for (const p of c.live!.pages) {
        const host = new URL(p.url).hostname;
        if (new URL(p.url).pathname === COOKIES_NOTICE_PATH && p.status !== 200) failures.push(`${p.url} : ${p.status ?? p.error ?? 'pas de réponse'}`);
        for (const k of p.cookies) {
          const domain = k.domain.replace(/^\./, '');
          if (!listed.some((l) => l.name === k.name && (l.hostname === domain || isUnder(l.hostname, domain)))) failures.push(`${p.url} : cookie ${k.name} (${k.domain}) absent de la page « Cookies et traceurs » de ${host}`);
        }
      }
      const notices = c.live!.pages.filter((p) => new URL(p.url).pathname === COOKIES_NOTICE_PATH).map((p) => `${new URL(p.url).host} (${p.status})`);
      const seen = c.live!.pages.reduce((n, p) => n + p.cookies.length, 0);
      return outcome(failures, [`page servie sur ${notices.join(', ') || 'aucun site'} ; ${listed.length} cookie(s) déclaré(s), ${seen} reçu(s) pendant l’exploration, tous déclarés`]);
    },
  },
];

/** The check of a print run of the invitation letters (npm run audit --letters DIR). */
export const LETTERS_CHECKS: readonly AuditCheck[] = [
  {
    id: 'AUD-LETTERS-APART',
    answers: ['F5'],
    statement: 'Aucun document imprimé ne porte à la fois un nom et un code : aucun code côté enveloppes, aucun nom côté codes ni dans le fichier des participants de LimeSurvey.',
    statementEn: 'No printed document carries both a name and a code: no code on the envelopes\' side, no name on the codes\' side nor in LimeSurvey\'s participant file.',
    fix: 'print with npm run invitations -- generate, which draws, shuffles and prints codes and addresses apart; hand each folder to a different person',
    run: (c) => {
      const l = c.letters!;
      const failures = l.files.flatMap((f) => [
        ...f.codesFound.map((code) => `${f.file} (côté ${f.side}) porte le code ${code}`),
        ...f.namesFound.map((name) => `${f.file} (côté ${f.side}) porte le nom « ${name} »`),
      ]);
      return outcome(failures, [`${l.dir} : ${l.codes} codes, ${l.envelopes} enveloppes ; ${l.files.length} fichiers lus tels qu’imprimés (${l.files.map((f) => f.file).join(', ')}) : aucun code côté enveloppes, aucun nom côté codes`]);
    },
  },
];

export interface CheckResult {
  readonly id: string;
  readonly commune: string;
  readonly answers: readonly CitizenFinding[];
  readonly statement: string;
  readonly statementEn: string;
  readonly status: 'pass' | 'fail';
  readonly evidence: readonly string[];
  readonly fix: string;
}

export function runChecks(communes: readonly AuditedCommune[], checks: readonly AuditCheck[] = AUDIT_CHECKS): CheckResult[] {
  return communes.flatMap((c) => [...checks, ...(c.live ? LIVE_CHECKS : []), ...(c.letters ? LETTERS_CHECKS : [])].map((k) => {
    const r = k.run(c);
    return { id: k.id, commune: c.slug, answers: k.answers, statement: k.statement, statementEn: k.statementEn, status: r.passed ? 'pass' as const : 'fail' as const, evidence: r.evidence, fix: k.fix };
  }));
}
