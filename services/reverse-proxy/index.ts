import { isIPv4 } from 'node:net';
import { REGISTER_FILE, REGISTER_PATH, renderRegister, type ProcessingRegister } from './register.js';
import { COOKIES_NOTICE_FILE, COOKIES_NOTICE_PATH, noticeRows, renderCookiesNotice, type SiteCookie } from './cookies-notice.js';
import { Construct } from 'constructs';
import { Lazy } from 'cdktf';
import { Platform, type INetwork, type IVolume } from '../common/platform.js';
import { escapeHtml, renderFile } from '../common/template.js';
import { ownOriginCsp } from '../common/frontend.js';
import type { AudienceMeasurement } from '../matomo/index.js';

/** Something the proxy serves: an app front end, reached on `upstream`. */
export interface ProxyRoute {
  /** Service name, e.g. `limesurvey`. */
  readonly service: string;
  /** Public host name, e.g. `enquetes.ville-exemple.fr`. */
  readonly hostname: string;
  /** `host:port` the proxy forwards to (a network alias, or a city host's private address). */
  readonly upstream: string;
  /**
   * Content-Security-Policy of the site. Only the site's own origin: never a third party.
   * @default "default-src 'self'; ... " without inline scripts
   */
  readonly csp?: string;
  /** Also answer as an onion service on this proxy port (plain HTTP inside Tor). @default - clearnet only */
  readonly onionPort?: number;
  /**
   * Paths of the app that are for the stack's own network only (an administration API): the proxy
   * answers 404 for them, on the clearnet and onion sites alike. @default none
   */
  readonly internalPaths?: readonly string[];
  /**
   * How much of a visitor's address the access log keeps. `masked` keeps the first two bytes of an
   * IPv4 address (three groups of IPv6), as Matomo's anonymisation does: on a site that stores
   * answers in the order they arrive, a full address beside each submission's time would lead
   * from the answer's place in the table back to the citizen. @default 'full'
   */
  readonly loggedAddress?: 'full' | 'masked';
  /**
   * Cookies the app's pages set, for the cookies notice (/cookies-et-traceurs). The live audit
   * fails on a cookie the browser holds that is not listed here. @default none
   */
  readonly cookies?: readonly SiteCookie[];
}

const STRICT_CSP = ownOriginCsp();

/** Where the proxy reads, and the onion service writes, one `<service> http://<address>.onion;` map file per site. */
export const ONION_ADDRESSES_PATH = '/var/lib/socle/onion-addresses';

// A site's onion origin, then its Onion-Location value; empty (no header sent) until Tor has
// published the address. The map files are read at start and at each reload (socle-nginx).
/** The audience tracker every measured page loads, as the proxy serves it. */
export const AUDIENCE_SCRIPT_FILE = '/etc/socle/socle-audience.js';
/** nginx's whole configuration, as the proxy runs it. */
export const NGINX_CONF_FILE = '/etc/socle/nginx.conf';
const ONION_LOCATION_MAPS = [
  `  map $socle_site $socle_onion_origin { default ""; include ${ONION_ADDRESSES_PATH}/*.map; }`,
  '  map $socle_onion_origin $socle_onion_location { "" ""; default $socle_onion_origin$request_uri; }',
].join('\n');

export interface LegalNotice {
  readonly communeName: string;
  readonly legalEntity: string;
  readonly siren?: string;
  readonly address: { readonly street: string; readonly postcode: string; readonly city: string };
  readonly phone: string;
  readonly email: string;
  readonly publicationDirector: string;
  readonly dpo: { readonly name: string; readonly email: string; readonly postalAddress?: string };
  /** Every city host and the services it runs, for the "Hébergement" section. */
  readonly hosts: ReadonlyArray<{ readonly name: string; readonly owner: string; readonly site: string; readonly services: readonly string[] }>;
}

export interface ReverseProxyProps {
  /** Host address the published ports bind to. @default '0.0.0.0' */
  readonly bindAddress?: string;
  /** @default 80 */
  readonly httpPort?: number;
  /** @default 443 */
  readonly httpsPort?: number;
  /** Days before an access log (IP addresses) is deleted. @default 90 */
  readonly accessLogRetentionDays?: number;
  /** Most MiB the access logs may take; past it the oldest day goes first. @default 1024 */
  readonly accessLogMaxMiB?: number;
  /** `mailto:` or `https:` address served as /.well-known/security.txt (RFC 9116). @default mailto: the legal notice's email */
  readonly securityContact?: string;
  /**
   * Tor also serves the routes that have an `onionPort`: the proxy mounts the addresses Tor publishes
   * and announces them on the clearnet names (`Onion-Location`). @default false
   */
  readonly onion?: boolean;
  /** @default 128 */
  readonly memoryMiB?: number;
  /** Where the certificate comes from. */
  readonly tls: { readonly mode: 'files'; readonly directory: string } | { readonly mode: 'acme'; readonly directoryUrl: string; readonly email: string };
  readonly legalNotice: LegalNotice;
  /**
   * The Art. 30 register, read when the stack is synthesized (every service has declared its
   * processing and volumes by then), served at /registre-des-traitements. @default none served
   */
  readonly register?: () => ProcessingRegister;
}

/**
 * nginx: the only container publishing ports. One virtual host per route, TLS with a modern
 * profile, security headers, and the generated legal notice at /mentions-legales on every site.
 * @stateful - access logs (personal data) on a labelled volume, deleted after the retention
 */
export class ReverseProxy extends Construct {
  /** Network of the app front ends on this host (internal): join it to be proxied. */
  public readonly frontendNetwork: INetwork;
  /** The proxy's own network with a route out (published ports, ACME, Tor). */
  public readonly publicNetwork: INetwork;
  public readonly accessLogs: IVolume;
  /** Where the onion service publishes its addresses (`onion: true` only); mount it at {@link ONION_ADDRESSES_PATH}. */
  public readonly onionAddresses?: IVolume;
  private readonly routes: ProxyRoute[] = [];
  private readonly servesRegister: boolean;
  private audience?: AudienceMeasurement;

  constructor(scope: Construct, id: string, props: ReverseProxyProps) {
    super(scope, id);
    this.servesRegister = props.register !== undefined;
    const platform = Platform.of(this);
    platform.declareProcessing({
      services: ['proxy'],
      name: 'Journaux de connexion',
      purposes: ['assurer la sécurité des services, détecter et analyser les incidents'],
      legalBasis: 'obligation de sécurité du responsable de traitement (article 32 du RGPD)',
      people: ['visiteurs des sites'],
      data: ['adresse IP (tronquée sur les sites d’enquête), date et heure, page demandée sans paramètre, navigateur'],
      recipients: ['administrateur système de la commune'],
      measures: ['journaux non copiés dans les sauvegardes'],
    });
    const retentionDays = props.accessLogRetentionDays ?? 90;
    const maxMiB = props.accessLogMaxMiB ?? 1024;
    const bind = props.bindAddress ?? '0.0.0.0';
    this.frontendNetwork = platform.network(this, { name: 'frontend', tier: 'frontend' });
    this.publicNetwork = platform.network(this, { name: 'public', tier: 'egress' });
    this.accessLogs = platform.volume(this, {
      name: 'proxy-logs', service: 'proxy', category: 'personal',
      retention: `${retentionDays} jours, ${maxMiB} Mio au plus ; journaux d’audience (adresses tronquées, pour l’import dans Matomo) ${AUDIENCE_LOG_DAYS} jours`,
      retentionEnforcedBy: 'le conteneur proxy-log-retention : toutes les 30 s, supprime les jours échus, puis les plus anciens tant que la taille est dépassée',
      // Logs are evidence for incident response, not an archive: they are not copied to backups.
      backup: false, preventDestroy: false,
    });
    this.onionAddresses = props.onion
      ? platform.volume(this, {
        name: 'onion-addresses', service: 'proxy', category: 'operational', retention: 'tant que le service onion fonctionne',
        // Public addresses, written again by Tor from its keys (which are backed up) at every start.
        backup: false, preventDestroy: false,
      })
      : undefined;
    const acmeWebroot = props.tls.mode === 'acme'
      ? platform.volume(this, { name: 'acme-webroot', service: 'proxy', category: 'cache', retention: 'jusqu’à la réponse au défi ACME' })
      : undefined;
    const certificates = props.tls.mode === 'acme'
      ? platform.volume(this, { name: 'acme-certificates', service: 'proxy', category: 'secret', retention: 'jusqu’à l’expiration du certificat' })
      : undefined;

    const nginxConf = Lazy.stringValue({
      produce: () => renderFile(import.meta.url, './templates/nginx.conf.tmpl', {
        accessLogRetentionDays: retentionDays,
        certificate: '/etc/nginx/tls/fullchain.pem',
        certificateKey: '/etc/nginx/tls/privkey.pem',
        virtualHosts: this.routes.map((r) => this.renderVirtualHosts(r)).join('\n'),
        // Only with a site that sets $socle_site: nginx refuses a map over a variable nothing defines.
        onionMaps: this.onionAddresses && this.routes.some((r) => r.onionPort) ? ONION_LOCATION_MAPS : '',
        audienceMaps: this.audience ? AUDIENCE_MAPS : '',
      }),
    });

    platform.container(this, 'Resource', {
      service: 'proxy',
      role: 'nginx',
      image: 'nginx',
      command: this.onionAddresses ? ['socle-nginx', '--reload-when-changed', ONION_ADDRESSES_PATH] : ['socle-nginx'],
      networks: [
        { network: this.publicNetwork, aliases: ['proxy'] },
        { network: this.frontendNetwork, aliases: ['proxy'] },
      ],
      ports: [
        { internal: 80, external: props.httpPort ?? 80, ip: bind },
        { internal: 443, external: props.httpsPort ?? 443, ip: bind },
      ],
      bindsLowPorts: true,
      volumes: [
        { volume: this.accessLogs, path: '/var/log/nginx' },
        ...(this.onionAddresses ? [{ volume: this.onionAddresses, path: ONION_ADDRESSES_PATH, readOnly: true }] : []),
        ...(acmeWebroot ? [{ volume: acmeWebroot, path: '/var/www/acme', readOnly: true }] : []),
        ...(certificates ? [{ volume: certificates, path: '/etc/nginx/tls', readOnly: true }] : []),
      ],
      // The city's own certificate: a read-only mount of a host directory, so the private key never
      // passes through Terraform (plan, state or synthesized JSON).
      hostMounts: props.tls.mode === 'files' ? [{ hostPath: props.tls.directory, path: '/etc/nginx/tls' }] : [],
      tmpfs: { '/tmp': 64 },
      user: 'www-data',
      uploads: [
        { path: '/etc/socle/nginx.conf', content: nginxConf },
        { path: '/etc/socle/mentions-legales.html', content: Lazy.stringValue({ produce: () => renderLegalNotice(props.legalNotice, retentionDays, this.routes, this.audience, this.servesRegister) }) },
        { path: COOKIES_NOTICE_FILE, content: Lazy.stringValue({ produce: () => renderCookiesNotice(props.legalNotice, noticeRows(this.routes, this.audience), this.audience) }) },
        ...(props.register ? [{ path: REGISTER_FILE, content: Lazy.stringValue({ produce: () => renderRegister(props.legalNotice, props.register!()) }) }] : []),
        { path: '/etc/socle/security.txt', content: renderSecurityTxt(props.securityContact ?? `mailto:${props.legalNotice.email}`) },
        { path: AUDIENCE_SCRIPT_FILE, content: Lazy.stringValue({ produce: () => this.audience?.trackerScript ?? '' }) },
        { path: '/etc/socle/socle-opt-out.js', content: Lazy.stringValue({ produce: () => this.audience?.optOutScript ?? '' }) },
      ],
      healthcheck: { test: ['CMD', 'curl', '--fail', '--silent', '--output', '/dev/null', 'http://127.0.0.1:8079/healthz'], startPeriodSec: 10 },
      memoryMiB: props.memoryMiB ?? 128,
    });

    // Daily access-log files older than the retention are deleted, from a container with no network.
    platform.container(this, 'LogRetention', {
      service: 'proxy',
      role: 'log-retention',
      image: 'base',
      // By age, then by size: the oldest day goes first; the day being written is emptied, not
      // deleted (nginx keeps its file open, so deleting it would free nothing).
      command: ['sh', '-c', [
        'while :; do',
        `find /var/log/nginx -name 'access-*.log' -mtime +${retentionDays - 1} -delete`,
        // Matomo imports a day's audience log the night after: one more day for a night that failed.
        `find /var/log/nginx -name 'audience-*.log' -mtime +${AUDIENCE_LOG_DAYS - 1} -delete`,
        `while [ "$(du -sm /var/log/nginx | cut -f1)" -gt ${maxMiB} ]; do`,
        'oldest=$(ls -1tr /var/log/nginx/access-*.log 2>/dev/null | head -n 1); [ -n "$oldest" ] || break',
        'if [ "$(ls -1 /var/log/nginx/access-*.log | wc -l)" -le 1 ]; then : > "$oldest"; break; fi',
        'rm -f "$oldest"; done',
        'sleep 30; done',
      ].join('\n')],
      networkMode: 'none',
      volumes: [{ volume: this.accessLogs, path: '/var/log/nginx' }],
      user: 'www-data',
      healthcheck: { test: ['CMD', 'test', '-w', '/var/log/nginx'] },
      memoryMiB: 32,
    });

    if (props.tls.mode === 'acme') {
      platform.container(this, 'Acme', {
        service: 'proxy',
        role: 'acme',
        image: 'acme',
        command: ['socle-acme', '--server', props.tls.directoryUrl, '--email', props.tls.email, '--webroot', '/var/www/acme', '--out', '/etc/socle/tls',
          '--domains', Lazy.stringValue({ produce: () => this.routes.map((r) => r.hostname).join(',') })],
        networks: [{ network: this.publicNetwork }],
        volumes: [{ volume: acmeWebroot!, path: '/var/www/acme' }, { volume: certificates!, path: '/etc/socle/tls' }],
        tmpfs: { '/tmp': 16 },
        user: 'socle',
        healthcheck: { test: ['CMD', 'test', '-s', '/etc/socle/tls/fullchain.pem'], intervalSec: 300, startPeriodSec: 600 },
        memoryMiB: 128,
      });
    }
  }

  /**
   * Measures every other site with the city's Matomo: each page loads `/socle-audience.js` (added
   * by the proxy before `</head>`, so the apps need no setting for it), which reaches Matomo through
   * the page's own origin (`/socle-audience/`); GET requests answered
   * with a page are also written to a daily audience log with masked addresses, which Matomo
   * imports (`logImport`) as a second measurement.
   */
  public measureAudience(audience: AudienceMeasurement): void {
    if (this.audience) throw new Error('reverse proxy already measures audience with a Matomo; a city has one');
    this.audience = audience;
  }

  /** Serves `route` on its own virtual host (and onion port). */
  public addRoute(route: ProxyRoute): void {
    if (this.routes.some((r) => r.hostname === route.hostname)) {
      throw new Error(`reverse proxy already routes ${route.hostname}; give ${route.service} its own hostname`);
    }
    this.routes.push(route);
    // An app on another city host is reached at its private address: the one flow out of the
    // proxy's network besides answers to citizens.
    const [upstreamHost, upstreamPort] = [route.upstream.slice(0, route.upstream.lastIndexOf(':')), Number(route.upstream.slice(route.upstream.lastIndexOf(':') + 1))];
    if (isIPv4(upstreamHost)) Platform.of(this).allowEgress(this.publicNetwork, { to: upstreamHost, port: upstreamPort, reason: `${route.service} on another city host` });
  }

  private renderVirtualHosts(route: ProxyRoute): string {
    // Every site but Matomo's own interface is measured.
    const measured = this.audience !== undefined && route.upstream !== this.audience.upstream;
    const vhost = (listen: string, serverName: string, tls: boolean) => renderFile(import.meta.url, './templates/vhost.conf.tmpl', {
      service: route.service,
      hostname: route.hostname,
      upstream: route.upstream,
      listen,
      serverName,
      csp: route.csp ?? STRICT_CSP,
      tlsDirectives: tls ? '    add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;' : '',
      logFormat: route.loggedAddress === 'masked' ? 'socle_masked' : 'socle',
      registerLocation: this.servesRegister
        ? `    location = ${REGISTER_PATH} {\n      default_type "text/html; charset=utf-8";\n      alias ${REGISTER_FILE};\n    }` : '',
      cookiesNoticePath: COOKIES_NOTICE_PATH,
      cookiesNoticeFile: COOKIES_NOTICE_FILE,
      internalLocations: (route.internalPaths ?? []).map((path) => `    # For the stack's own network only.\n    location ^~ ${path} { return 404; }`).join('\n'),
      audienceLocations: this.audience ? renderAudienceLocations(this.audience) : '',
      audienceInjection: measured ? AUDIENCE_INJECTION : '',
      audienceLog: measured && this.audience?.logImport
        ? '    access_log /var/log/nginx/audience-$socle_log_day.log socle_audience if=$socle_audience_page;' : '',
      // Tor Browser offers the onion address to a visitor of the clearnet name (once Tor has published it).
      onionDirectives: tls && route.onionPort && this.onionAddresses
        ? `    set $socle_site ${route.service};\n    add_header Onion-Location $socle_onion_location always;` : '',
    });
    const clearnet = `${renderFile(import.meta.url, './templates/http-redirect.conf.tmpl', { hostname: route.hostname })}\n${vhost('443 ssl http2', route.hostname, true)}`;
    return route.onionPort ? `${clearnet}\n${vhost(String(route.onionPort), '_', false)}` : clearnet;
  }
}

/** Days an audience log stays on the proxy's volume: imported the night after, tried again once. */
const AUDIENCE_LOG_DAYS = 2;

// Page views only (GET answered with HTML), with the masked address, the time in the format
// Matomo's importer reads, the path without query string or code, and the user agent (the
// importer leaves bots out by it). A visitor who refused the measurement (Do Not Track, or the
// legal notice's opt-out cookie) is left out of the logs' measurement as of the tracker's.
// Upstream compression off, so the tracker can be added to pages.
const AUDIENCE_MAPS = [
  '  map "$http_dnt:$cookie_mtm_consent_removed" $socle_audience_refused { default 1; ":" 0; "0:" 0; }',
  '  map "$request_method:$status:$socle_audience_refused:$sent_http_content_type" $socle_audience_page { default 0; "~^GET:200:0:text/html" 1; }',
  '  log_format socle_audience \'$socle_masked_addr [$time_local] "$host" "$request_method $socle_logged_uri" $status $body_bytes_sent "$http_user_agent"\';',
  '  proxy_set_header Accept-Encoding "";',
].join('\n');

const AUDIENCE_INJECTION = [
  '      sub_filter \'</head>\' \'<script src="/socle-audience.js" async></script></head>\';',
  '      sub_filter_once on;',
].join('\n');

/** Matomo's tracker and endpoint, and Socle's opt-out, reached through every site's own origin. */
function renderAudienceLocations(a: AudienceMeasurement): string {
  const script = (location: string, file: string) => `    location = ${location} {\n      default_type "application/javascript; charset=utf-8";\n      alias ${file};\n    }`;
  const toMatomo = (location: string, target: string) => `    location = /socle-audience/${location} {\n      set $socle_matomo http://${a.upstream};\n      proxy_pass $socle_matomo/${target};\n    }`;
  return [
    '    # Audience measurement by the city\'s Matomo, first party (services/matomo).',
    script('/socle-audience.js', '/etc/socle/socle-audience.js'),
    script('/socle-audience/opt-out.js', '/etc/socle/socle-opt-out.js'),
    toMatomo('matomo.js', 'matomo.js'),
    toMatomo('matomo.php', 'matomo.php$is_args$args'),
  ].join('\n');
}

/** The French legal notice (mentions légales), naming the real host: the commune itself. */
function renderLegalNotice(n: LegalNotice, accessLogRetentionDays: number, routes: readonly ProxyRoute[], audience: AudienceMeasurement | undefined, servesRegister: boolean): string {
  const e = escapeHtml;
  const masked = routes.filter((r) => r.loggedAddress === 'masked').map((r) => e(r.hostname));
  return renderFile(import.meta.url, './templates/mentions-legales.html.tmpl', {
    communeName: e(n.communeName),
    legalEntity: e(n.legalEntity),
    street: e(n.address.street),
    postcode: e(n.address.postcode),
    city: e(n.address.city),
    phone: e(n.phone),
    email: e(n.email),
    siren: n.siren ? `<br>SIREN : ${e(n.siren)}` : '',
    publicationDirector: e(n.publicationDirector),
    hostRows: n.hosts.map((h) => `<tr><td>${e(h.name)}</td><td>${e(h.owner)}</td><td>${e(h.site)}</td><td>${e(h.services.join(', '))}</td></tr>`).join('\n'),
    serviceItems: n.hosts.flatMap((h) => h.services).map((s) => `<li>${e(s)}</li>`).join('\n'),
    accessLogRetentionDays,
    maskedLogs: masked.length
      ? ` Pour ${masked.join(', ')}, les journaux ne gardent que le début de l’adresse IP (deux octets), et jamais le code de participation ni l’adresse complète de la page.`
      : '',
    audience: audience ? renderAudienceNotice(audience) : '<p>Aucune mesure d’audience n’est réalisée sur ces sites.</p>',
    cookiesLink: `<p>Les <a href="${COOKIES_NOTICE_PATH}">cookies et traceurs</a> : ce que chaque site dépose dans votre navigateur, pourquoi et combien de temps.</p>`,
    registerLink: servesRegister ? `<p>Le <a href="${REGISTER_PATH}">registre des activités de traitement</a> (article 30 du RGPD) dit, pour chaque traitement, ses finalités, les données, leurs destinataires, où elles sont conservées et combien de temps.</p>` : '',
    dpoName: e(n.dpo.name),
    dpoEmail: e(n.dpo.email),
    dpoPostal: n.dpo.postalAddress ? `, ${e(n.dpo.postalAddress)}` : '',
  });
}

/** The legal notice's section on audience measurement, from the settings Matomo applies, with the opt-out. */
function renderAudienceNotice(a: AudienceMeasurement): string {
  return [
    '<p>La fréquentation de ces sites est mesurée par une instance Matomo hébergée par la commune sur ses propres serveurs, dans les conditions de la CNIL pour une mesure d’audience dispensée de consentement :',
    'aucun cookie de mesure n’est déposé (seulement, si vous vous opposez à la mesure, un cookie qui retient votre refus 13 mois) ; l’adresse IP est tronquée (' + a.privacy.ipMaskBytes + ' octets masqués) avant tout enregistrement ; le signal « Do Not Track » de votre navigateur est respecté ;',
    'aucun code de participation ni identifiant de compte n’est enregistré ; les données brutes sont supprimées après ' + a.privacy.rawDataRetentionDays + ' jours et seules des statistiques agrégées sont conservées ;',
    'ces données ne sont ni recoupées avec d’autres traitements ni transmises à quiconque.' + (a.logImport ? ' Les journaux du serveur (adresse tronquée, page, navigateur) servent à une seconde mesure, pour corriger la première ; ils sont supprimés après ' + AUDIENCE_LOG_DAYS + ' jours.' : '') + '</p>',
    '<p>Vous pouvez vous opposer à cette mesure :</p>',
    '<div id="socle-opt-out"></div>',
    '<script src="/socle-audience/opt-out.js"></script>',
  ].join('\n');
}

/**
 * /.well-known/security.txt (RFC 9116): where to report a problem. It expires at the end of next
 * year (the field is required): the first deploy of each year renews it.
 */
function renderSecurityTxt(contact: string, now = new Date()): string {
  return [
    `Contact: ${contact}`,
    `Expires: ${now.getUTCFullYear() + 1}-12-31T23:59:59.000Z`,
    'Preferred-Languages: fr, en',
    '',
  ].join('\n');
}
