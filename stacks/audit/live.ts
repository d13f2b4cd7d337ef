// The live part of the audit: what a deployed city answers, observed from the auditor's machine.
// DNS of every public name, HTTPS on every name, and a crawl of each public page in Chromium that
// records every request, every blocked load and every cookie set before anyone clicks anything.
// These are observations only; the checks (checks.ts) decide. Nothing here ever connects to an
// address outside the networks the commune declares it owns: such a name is reported, not probed.
import { Resolver } from 'node:dns/promises';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, type TLSSocket } from 'node:tls';
import { inNetwork } from '../config/checks/ownership.js';
import type { AuditedCommune } from './model.js';
import type { RelayCheck } from '../../services/mail-gateway/relay-check.js';
import type { SurveyReport } from '../../scripts/survey.js';
import { gotoSteadily, launchChromium } from './browser.js';
import { REGISTER_PATH } from '../../services/reverse-proxy/register.js';
import { COOKIES_NOTICE_PATH } from '../../services/reverse-proxy/cookies-notice.js';

export interface DnsObservation {
  readonly name: string;
  /** The CNAME chain, first hop first (empty: the name has its own addresses). */
  readonly cnames: readonly string[];
  readonly addresses: readonly string[];
  readonly error?: string;
}

export interface ZoneObservation {
  readonly zone: string;
  readonly nameServers: readonly string[];
  readonly error?: string;
}

export interface HttpsObservation {
  readonly name: string;
  readonly address?: string;
  readonly port: number;
  /** Why it was not probed (an address outside the city's networks, no address). */
  readonly skipped?: string;
  readonly error?: string;
  readonly tlsVersion?: string;
  readonly cipher?: string;
  /** What the server did when offered TLS 1.1 at most: 'refused', 'accepted', or why it was not tried. */
  readonly oldTls?: string;
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly securityTxt?: { readonly status: number; readonly contentType: string; readonly body: string };
}

export interface CrawledPage {
  readonly url: string;
  readonly status?: number;
  readonly error?: string;
  /** Every request the page made, by URL. */
  readonly requests: readonly string[];
  /** Loads the page attempted and the CSP blocked (the browser never sent them). */
  readonly blocked: readonly string[];
  /** Cookies in the browser after the page loaded, before any click. */
  readonly cookies: ReadonlyArray<{ readonly name: string; readonly domain: string; readonly session: boolean; readonly expires?: string }>;
}

export interface LiveObservations {
  readonly resolver: string;
  readonly dns: readonly DnsObservation[];
  readonly zones: readonly ZoneObservation[];
  readonly https: readonly HttpsObservation[];
  readonly pages: readonly CrawledPage[];
  /** The onion sites, when the audit was given a way to them (--tor or --onion-at). */
  readonly onion?: OnionObservations;
  /** `npm run mail -- check`, when the audit was asked to run it (--mail). */
  readonly mail?: MailObservation;
  /** `npm run survey -- check --active`, when the audit was asked to run it (--surveys). */
  readonly surveys?: SurveysObservation;
}

/** What `npm run survey -- check --active --json` said: every survey open to answers. */
export interface SurveysObservation {
  readonly command: string;
  readonly exitCode: number;
  readonly surveys: readonly SurveyReport[];
  /** The command's last words when it could not check at all (no LimeSurvey, no password). */
  readonly error?: string;
}

/** What `npm run mail -- check --json` said: one row per host running a mail gateway. */
export interface MailObservation {
  readonly command: string;
  readonly exitCode: number;
  readonly hosts: ReadonlyArray<Pick<RelayCheck, 'ok' | 'route' | 'banner' | 'tls' | 'auth' | 'failure'> & { readonly host: string }>;
  /** The command's last words when it could not check at all (no gateway deployed, no password). */
  readonly error?: string;
}

export interface OnionObservations {
  /** How they were reached: `Tor (SOCKS 127.0.0.1:9050)`, or the proxy's onion virtual hosts at an address. */
  readonly via: string;
  /** Each public name and the onion origin its Onion-Location header announced, if any. */
  readonly sites: ReadonlyArray<{ readonly name: string; readonly origin?: string }>;
  /** The same pages as the clearnet crawl, on each onion origin; every request to another host is recorded, and never sent. */
  readonly pages: readonly CrawledPage[];
}

export interface LiveOptions {
  /** `ADDRESS[:PORT]` of the resolver to ask; default the system's. */
  readonly dns?: string;
  /** A CA (PEM file) the city's certificates chain to, besides the system's. */
  readonly ca?: string;
  /** Extra pages to crawl, as `name/path`. */
  readonly pages?: readonly string[];
  /** `HOST:PORT` of a Tor SOCKS proxy on this machine: the onion sites are crawled through it. */
  readonly tor?: string;
  /** Also run `npm run mail -- check` on this city file (it needs the relay's password, as the command does). */
  readonly mailCheckOf?: string;
  /** Also run `npm run survey -- check --active` on this city file (it needs LimeSurvey's admin password, as the command does). */
  readonly surveysCheckOf?: string;
  /**
   * The address of the proxy's onion virtual hosts (the front host, from the server room, or a
   * test whose Tor is offline): the onion sites are crawled there, each at its onion port.
   */
  readonly onionAt?: string;
  readonly say?: (line: string) => void;
  /** Seconds a probe may take. @default 10 */
  readonly timeoutSeconds?: number;
}

function resolverFor(dns: string | undefined): { resolver: Resolver; label: string } {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (dns) resolver.setServers([dns]);
  return { resolver, label: dns ?? resolver.getServers().join(', ') };
}

const errorText = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

async function resolveName(resolver: Resolver, name: string): Promise<DnsObservation> {
  const cnames: string[] = [];
  let current = name;
  try {
    for (let i = 0; i < 8; i++) {
      const next = await resolver.resolveCname(current).catch((err: NodeJS.ErrnoException) => (err.code === 'ENODATA' || err.code === 'ENOTFOUND' ? [] : Promise.reject(err)));
      if (next.length === 0) break;
      cnames.push(next[0]);
      current = next[0];
    }
    const addresses = await resolver.resolve4(current).catch((err: NodeJS.ErrnoException) => (err.code === 'ENODATA' ? [] : Promise.reject(err)));
    return { name, cnames, addresses };
  } catch (err) {
    return { name, cnames, addresses: [], error: errorText(err) };
  }
}

/** One TLS connection: the negotiated version and cipher, then `request` written and the whole answer read. */
function tlsExchange(address: string, port: number, servername: string, ca: string | undefined, request: string | undefined, extra: object, timeoutMs: number): Promise<{ socket: TLSSocket; version: string; cipher: string; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, servername, ...(ca ? { ca: [ca] } : {}), ...extra });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once('secureConnect', () => {
      if (request === undefined) {
        clearTimeout(timer);
        resolve({ socket, version: socket.getProtocol() ?? '?', cipher: socket.getCipher()?.name ?? '?', answer: '' });
        socket.end();
        return;
      }
      socket.write(request);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve({ socket, version: socket.getProtocol() ?? '?', cipher: socket.getCipher()?.name ?? '?', answer: Buffer.concat(chunks).toString('utf8') });
    });
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

function parseResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) {
      const key = l.slice(0, i).trim().toLowerCase();
      headers[key] = headers[key] ? `${headers[key]}, ${l.slice(i + 1).trim()}` : l.slice(i + 1).trim();
    }
  }
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0])?.[1] ?? 0), headers, body: rest.join('\r\n\r\n') };
}

const get = (name: string, path: string) => `GET ${path} HTTP/1.1\r\nHost: ${name}\r\nUser-Agent: socle-audit\r\nAccept: */*\r\nConnection: close\r\n\r\n`;

async function probeHttps(c: AuditedCommune, dns: DnsObservation, port: number, ca: string | undefined, timeoutMs: number): Promise<HttpsObservation> {
  const address = dns.addresses[0];
  if (!address) return { name: dns.name, port, skipped: `no address${dns.error ? ` (${dns.error})` : ''}` };
  if (!c.owns.networks.some((n) => inNetwork(address, n))) return { name: dns.name, address, port, skipped: `${address} is outside the networks the commune owns (${c.owns.networks.join(', ')}): not contacted` };
  try {
    const page = await tlsExchange(address, port, dns.name, ca, get(dns.name, '/'), {}, timeoutMs);
    const home = parseResponse(page.answer);
    const txt = parseResponse((await tlsExchange(address, port, dns.name, ca, get(dns.name, '/.well-known/security.txt'), {}, timeoutMs)).answer);
    let oldTls: string;
    try {
      await tlsExchange(address, port, dns.name, ca, undefined, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false }, timeoutMs);
      oldTls = 'accepted';
    } catch (err) {
      const code = errorText(err);
      // A protocol-version alert comes from the server; anything else may be this machine's OpenSSL.
      oldTls = /ALERT_PROTOCOL_VERSION|TLSV1_ALERT|UNSUPPORTED_PROTOCOL|WRONG_VERSION/.test(code) ? 'refused' : `not tried (${code})`;
    }
    return {
      name: dns.name, address, port, tlsVersion: page.version, cipher: page.cipher, oldTls, status: home.status, headers: home.headers,
      securityTxt: { status: txt.status, contentType: txt.headers['content-type'] ?? '', body: txt.body.slice(0, 2000) },
    };
  } catch (err) {
    return { name: dns.name, address, port, error: errorText(err) };
  }
}

/** The pages of each public name to crawl: its home, the legal notice and the register, and `extra`. */
function pagesToCrawl(c: AuditedCommune, port: number, extra: readonly string[]): string[] {
  const origin = (name: string) => `https://${name}${port === 443 ? '' : `:${port}`}`;
  const pages = c.publicNames.flatMap((n) => ['/', '/mentions-legales', REGISTER_PATH, COOKIES_NOTICE_PATH].map((p) => `${origin(n.hostname)}${p}`));
  for (const e of extra) {
    const slash = e.indexOf('/');
    pages.push(`${origin(slash < 0 ? e : e.slice(0, slash))}${slash < 0 ? '/' : e.slice(slash)}`);
  }
  return pages;
}

/**
 * Opens each page in a fresh profile. The browser resolves names by `resolved` (name to
 * `address[:port]`) and nothing else, so a load from another host is recorded when it is attempted
 * and never reaches that host. With `ownHostOnly`, a request to any host but the page's own is
 * aborted before it leaves (through a SOCKS proxy, names are resolved at the proxy, not by the rules).
 */
async function crawl(urls: readonly string[], resolved: ReadonlyMap<string, string>, say: (line: string) => void, timeoutMs: number, via: { socks?: string; ownHostOnly?: boolean } = {}): Promise<CrawledPage[]> {
  const rules = [...[...resolved].map(([name, address]) => `MAP ${name} ${address}`), 'MAP * ~NOTFOUND', ...(via.socks ? [`EXCLUDE ${via.socks.replace(/:\d+$/, '')}`] : [])].join(', ');
  const browser = await launchChromium(rules, via.socks ? `socks5://${via.socks}` : undefined);
  const pages: CrawledPage[] = [];
  try {
    for (const [i, url] of urls.entries()) {
      say(`live: page ${i + 1}/${urls.length} ${url}`);
      // A fresh profile per page: a cookie is the page's own doing, not a previous one's.
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      if (via.ownHostOnly) {
        const own = new URL(url).host;
        await page.route('**/*', (route) => (new URL(route.request().url()).host === own ? route.continue() : route.abort('blockedbyclient')));
      }
      // Runs in the page, before its own scripts (a string: this module is not compiled for the DOM).
      await page.addInitScript({ content: "window.__socleBlocked = []; document.addEventListener('securitypolicyviolation', (e) => window.__socleBlocked.push(e.blockedURI));" });
      try {
        const response = await gotoSteadily(page, url, { waitUntil: 'networkidle', timeout: timeoutMs });
        const blocked = (await page.evaluate('window.__socleBlocked')) as string[];
        const cookies = (await context.cookies()).map((k) => ({ name: k.name, domain: k.domain, session: k.expires === -1, ...(k.expires === -1 ? {} : { expires: new Date(k.expires * 1000).toISOString() }) }));
        pages.push({ url, status: response?.status(), requests, blocked: [...new Set(blocked)], cookies });
      } catch (err) {
        // A page still busy at the deadline proves nothing either way: say so, and how to give it longer.
        const timedOut = (err as Error).name === 'TimeoutError';
        pages.push({ url, error: timedOut ? `page non chargée ou encore active après ${timeoutMs / 1000} s (${requests.length} requête(s) jusque-là) : relancer avec un --timeout plus long` : (err as Error).message.split('\n')[0], requests, blocked: [], cookies: [] });
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  return pages;
}

/** Observes a deployed commune from this machine. */
export async function observeLive(c: AuditedCommune, httpsPort: number, options: LiveOptions = {}): Promise<LiveObservations> {
  const say = options.say ?? (() => undefined);
  const timeoutMs = (options.timeoutSeconds ?? 10) * 1000;
  const { resolver, label } = resolverFor(options.dns);
  const ca = options.ca ? readFileSync(options.ca, 'utf8') : undefined;
  say(`live: DNS of ${c.publicNames.length} public name(s) and ${c.owns.domains.length} zone(s), asking ${label}`);
  const dns = await Promise.all(c.publicNames.map((n) => resolveName(resolver, n.hostname)));
  const zones = await Promise.all(c.owns.domains.map(async (zone) => {
    try {
      return { zone, nameServers: await resolver.resolveNs(zone) };
    } catch (err) {
      return { zone, nameServers: [], error: errorText(err) };
    }
  }));
  say('live: HTTPS on every public name');
  const https: HttpsObservation[] = [];
  for (const d of dns) https.push(await probeHttps(c, d, httpsPort, ca, timeoutMs));
  const resolved = new Map(https.filter((h) => h.address && !h.skipped).map((h) => [h.name, h.address!] as [string, string]));
  const urls = pagesToCrawl(c, httpsPort, options.pages ?? []).filter((u) => resolved.has(new URL(u).hostname));
  const pages = await crawl(urls, resolved, say, timeoutMs * 3);
  const onion = options.tor || options.onionAt ? await observeOnion(c, https, urls, options, say, timeoutMs * 3) : undefined;
  const mail = options.mailCheckOf ? observeMail(options.mailCheckOf, say) : undefined;
  const surveys = options.surveysCheckOf ? observeSurveys(options.surveysCheckOf, say) : undefined;
  return { resolver: label, dns, zones, https, pages, ...(onion ? { onion } : {}), ...(mail ? { mail } : {}), ...(surveys ? { surveys } : {}) };
}

/**
 * Runs one of Socle's commands with --json, as the sysadmin would: its JSON on standard output,
 * or, when it stopped before checking anything, its last words (progress lines left out).
 */
function runJsonCheck(script: string, args: readonly string[], progress: RegExp, say: (line: string) => void): { command: string; exitCode: number; json?: unknown; error?: string } {
  const command = `npm run ${script} -- ${args.join(' ')}`;
  say(`live: ${command}`);
  const path = fileURLToPath(new URL(`../../scripts/${script}.ts`, import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', path, ...args, '--json'], { encoding: 'utf8', timeout: 180_000 });
  try {
    return { command, exitCode: r.status ?? 1, json: JSON.parse(r.stdout) };
  } catch {
    const last = (r.stderr ?? '').trim().split('\n').filter((l) => !progress.test(l)).pop();
    return { command, exitCode: r.status ?? 1, error: last ?? r.error?.message ?? 'no output' };
  }
}

/** Runs `npm run survey -- check --active --json`: RemoteControl over SSH, as the city's administrator does. */
function observeSurveys(file: string, say: (line: string) => void): SurveysObservation {
  const { command, exitCode, json, error } = runJsonCheck('survey', ['check', '--active', '--config', file], /^check: read/, say);
  return { command, exitCode, surveys: (json as SurveyReport[] | undefined) ?? [], ...(json ? {} : { error }) };
}

/** Runs `npm run mail -- check --json` itself, from the containers on the mail network, as an app sends. */
function observeMail(file: string, say: (line: string) => void): MailObservation {
  const { command, exitCode, json, error } = runJsonCheck('mail', ['check', '--config', file], /^mail: checking/, say);
  const hosts = ((json as Array<RelayCheck & { host: string }> | undefined) ?? []).map(({ host, ok, route, banner, tls, auth, failure }) => ({ host, ok, route, banner, tls, auth, failure }));
  return { command, exitCode, hosts, ...(hosts.length === 0 ? { error: error ?? 'no host checked' } : {}) };
}

/** The port of the proxy's onion virtual host for a public name: the onion site with the same app behind it. */
function onionPortOf(c: AuditedCommune, name: string): number | undefined {
  const clearnet = c.sites.find((s) => s.serverName === name);
  const onion = c.sites.find((s) => s.serverName === '_' && s.upstream !== undefined && s.upstream === clearnet?.upstream);
  return onion ? Number(onion.listen) : undefined;
}

/** Crawls, on each announced onion origin, the pages crawled on its clearnet name. */
async function observeOnion(c: AuditedCommune, https: readonly HttpsObservation[], clearnetUrls: readonly string[], options: LiveOptions, say: (line: string) => void, timeoutMs: number): Promise<OnionObservations> {
  const sites = https.map((h) => {
    const announced = h.headers?.['onion-location'];
    return { name: h.name, ...(announced && /^http:\/\/[a-z2-7]{56}\.onion\//.test(announced) ? { origin: new URL(announced).origin } : {}) };
  });
  const resolved = new Map<string, string>();
  if (options.onionAt) {
    for (const s of sites) {
      const port = onionPortOf(c, s.name);
      if (s.origin && port) resolved.set(new URL(s.origin).hostname, `${options.onionAt}:${port}`);
    }
  }
  const urls = clearnetUrls.flatMap((u) => {
    const site = sites.find((s) => s.name === new URL(u).hostname);
    return site?.origin ? [`${site.origin}${new URL(u).pathname}${new URL(u).search}`] : [];
  });
  const via = options.tor ? `Tor (SOCKS ${options.tor})` : `services onion du proxy à ${options.onionAt} (sans Tor)`;
  say(`live: ${urls.length} page(s) of ${sites.filter((s) => s.origin).length} onion site(s), via ${via}`);
  const pages = await crawl(urls, resolved, say, timeoutMs, { socks: options.tor, ownHostOnly: true });
  return { via, sites, pages };
}
