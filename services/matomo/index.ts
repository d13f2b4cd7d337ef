import { Construct } from 'constructs';
import { relayTrust } from '../mail-gateway/index.js';
import { Platform, type IVolume } from '../common/platform.js';
import { MariaDb } from '../mariadb/index.js';
import { attachFrontend, ownOriginCsp, type IWebApp, type WebAppProps } from '../common/frontend.js';
import type { ProxyRoute } from '../reverse-proxy/index.js';
import type { SiteCookie } from '../reverse-proxy/cookies-notice.js';
import { renderFile } from '../common/template.js';
import { LOGS_SITE_ID, TRACKER_SITE_ID } from './audience.js';
import { CODE_PARAMETERS, FORBIDDEN_PLUGINS, matomoPrivacy, rawDataRetentionLabel, type MatomoPrivacy } from './privacy.js';

export interface MatomoProps extends WebAppProps {
  /** Public host name of Matomo's own interface, e.g. `statistiques.ville-exemple.fr`. */
  readonly hostname: string;
  /** The commune's name, for the names of its two Matomo sites. */
  readonly communeName: string;
  /** Public host names whose pages are measured (the other apps'). */
  readonly measuredHostnames: readonly string[];
  /** Days raw visit data is kept (CNIL: at most 25 months). @default 180 */
  readonly rawDataRetentionDays?: number;
  /** @default 60 */
  readonly archiveIntervalMinutes?: number;
  /** @default 512 */
  readonly memoryMiB?: number;
  /** An image the city packaged itself, under its registry namespace. @default Socle's (catalog `matomo`) */
  readonly image?: string;
  /**
   * The proxy's access-log volume, when the proxy runs on this host: the audience logs it writes
   * there are imported every night. @default - no log import (the proxy is on another host)
   */
  readonly proxyLogs?: IVolume;
}

/** What the proxy needs to measure the other sites with this Matomo, through their own origin. */
export interface AudienceMeasurement {
  /** `host:port` of Matomo's front end, for the tracker's paths on every site. */
  readonly upstream: string;
  /** The snippet every measured page loads (`/socle-audience.js`). */
  readonly trackerScript: string;
  /** The legal notice's opt-out (served at /socle-audience/opt-out.js by the proxy). */
  readonly optOutScript: string;
  readonly privacy: MatomoPrivacy;
  /** Whether the proxy's logs are imported (a second measurement, for the correction). */
  readonly logImport: boolean;
  /** The one cookie measurement sets on a measured site: a visitor's refusal, for the cookies notice. */
  readonly optOutCookie: SiteCookie;
}


/** A refusal is remembered 13 months (395 days), the CNIL's ceiling for a cookie's life. */
const OPT_OUT_COOKIE_HOURS = 395 * 24;

// Matomo's reporting UI uses inline scripts and eval: own origin only, still.
const MATOMO_CSP = ownOriginCsp({ inlineScripts: true, inlineStyles: true, evalScripts: true });

/** Matomo's default plugins (config/global.ini.php of 5.0) minus those in FORBIDDEN_PLUGINS. */
const DEFAULT_PLUGINS = [
  'CoreVue', 'CorePluginsAdmin', 'CoreAdminHome', 'CoreHome', 'WebsiteMeasurable', 'IntranetMeasurable', 'Diagnostics',
  'CoreVisualizations', 'Proxy', 'API', 'Widgetize', 'Transitions', 'LanguagesManager', 'Actions', 'Dashboard', 'MultiSites',
  'Referrers', 'UserLanguage', 'DevicesDetection', 'Goals', 'Ecommerce', 'SEO', 'Events', 'UserCountry', 'GeoIp2', 'VisitsSummary',
  'VisitFrequency', 'VisitTime', 'VisitorInterest', 'RssWidget', 'Feedback', 'Monolog', 'Login', 'TwoFactorAuth', 'UsersManager',
  'SitesManager', 'Installation', 'CoreUpdater', 'CoreConsole', 'ScheduledReports', 'UserCountryMap', 'Live', 'PrivacyManager',
  'ImageGraph', 'Annotations', 'MobileMessaging', 'Overlay', 'SegmentEditor', 'Insights', 'Morpheus', 'Contents', 'BulkTracking',
  'Resolution', 'DevicePlugins', 'Heartbeat', 'Intl', 'Marketplace', 'ProfessionalServices', 'UserId', 'CustomJsTracker', 'Tour',
  'PagePerformance', 'CustomDimensions', 'JsTrackerInstallCheck',
];
const MATOMO_PLUGINS = DEFAULT_PLUGINS.filter((p) => !(FORBIDDEN_PLUGINS as readonly string[]).includes(p));

/**
 * Matomo, built by Socle from Debian and the official release archive (services/matomo), with
 * MariaDB, its archiver, and the nightly import of the proxy's logs: audience measurement without
 * Google Analytics and without consent banner, on the CNIL's conditions (services/matomo/privacy.ts).
 * Installed by code at first start; settings applied at every start.
 * @stateful - raw visit data (masked addresses) in the database
 */
export class Matomo extends Construct implements IWebApp {
  public readonly route: ProxyRoute;
  public readonly audience: AudienceMeasurement;

  constructor(scope: Construct, id: string, props: MatomoProps) {
    super(scope, id);
    const service = 'matomo';
    const platform = Platform.of(this);
    platform.declareProcessing({
      services: [service],
      name: 'Mesure d’audience des sites de la commune',
      purposes: ['produire des statistiques de fréquentation anonymes des sites de la commune'],
      legalBasis: 'mission d’intérêt public ; mesure d’audience exemptée de consentement (article 82 de la loi Informatique et Libertés, conditions de la CNIL)',
      people: ['visiteurs des sites'],
      data: ['adresse IP tronquée (2 octets masqués) avant tout enregistrement', 'pages vues, date et heure, navigateur'],
      recipients: ['service communication de la commune (statistiques agrégées)'],
      measures: ['aucun cookie de mesure ; « Do Not Track » respecté ; opposition possible depuis les mentions légales'],
    });
    const privacy = matomoPrivacy(props.rawDataRetentionDays);
    const memoryMiB = props.memoryMiB ?? 512;
    if (memoryMiB < 256) throw new Error(`matomo memoryMiB must be at least 256, got ${memoryMiB}; raise services.matomo.memoryMiB in the city file`);
    const data = platform.network(this, { name: `${service}-data`, tier: 'data' });
    const db = new MariaDb(this, 'Database', {
      service, network: data, retention: rawDataRetentionLabel(privacy),
      retentionEnforcedBy: 'la suppression quotidienne des données brutes par Matomo (PrivacyManager), réglée par socle-matomo à chaque démarrage',
    });
    const c = db.connection;
    const port = 8080;
    const front = attachFrontend(platform, this, service, port, props.exposure);
    const env = {
      DB_HOST: c.host, DB_PORT: String(c.port), DB_NAME: c.database, DB_USERNAME: c.user, DB_PASSWORD: c.password,
      ADMIN_USER: 'admin', ADMIN_EMAIL: props.smtp.from,
      ADMIN_PASSWORD: platform.generatedSecret(this, 'admin-password'),
      // Matomo signs its sessions and tokens with it: generated once, kept in the state.
      MATOMO_SALT: platform.generatedSecret(this, 'salt', { length: 64, hex: true }),
      SMTP_PASSWORD: props.smtp.password,
      ...relayTrust(props.smtp).env,
      SOCLE_LOGS_SITE_ID: String(LOGS_SITE_ID),
      // Matomo's console sets the host PHPMailer names in a Message-ID from --matomo-domain (and
      // leaves it empty without one: "localhost.localdomain"); socle-matomo passes this one.
      SOCLE_PUBLIC_HOST: props.hostname,
    };
    const urls = props.measuredHostnames.map((h) => `https://${h}`);
    const settings = {
      timezone: 'Europe/Paris',
      sites: [
        { id: TRACKER_SITE_ID, name: `${props.communeName} — traceur JavaScript`, urls },
        { id: LOGS_SITE_ID, name: `${props.communeName} — journaux du serveur`, urls },
      ],
      privacy,
    };
    const uploads = [
      {
        path: '/etc/socle/matomo/config.ini.php',
        content: renderFile(import.meta.url, './templates/config.ini.php.tmpl', {
          dbHost: c.host, dbPort: c.port, dbName: c.database, dbUser: c.user, hostname: props.hostname,
          // The onion site is plain HTTP inside Tor: Matomo must not redirect it to https.
          forceSsl: props.onionPort ? 0 : 1,
          from: props.smtp.from, fromName: `Statistiques – ${props.communeName}`,
          smtpHost: props.smtp.host, smtpPort: props.smtp.port, smtpUser: props.smtp.user,
          smtpEncryption: props.smtp.security === 'tls' ? 'ssl' : 'tls',
          plugins: MATOMO_PLUGINS.map((p) => `Plugins[] = "${p}"`).join('\n'),
          measuredHosts: props.measuredHostnames.map((h) => `trusted_hosts[] = "${h}"`).join('\n'),
        }),
      },
      { path: '/etc/socle/matomo/settings.json', content: `${JSON.stringify(settings, null, 2)}\n` },
      ...relayTrust(props.smtp).uploads,
    ];
    const image = props.image ?? 'matomo';
    const app = platform.container(this, 'Resource', {
      service,
      role: 'app',
      image,
      env: {
        ...env,
        // Where X-Real-IP is believed from: the proxy's own network, or its host across the city network.
        ...(props.exposure.kind === 'network' ? { SOCLE_PROXY_NAME: 'proxy' } : { SOCLE_TRUSTED_PROXIES: `${props.exposure.proxyAddress}/32` }),
      },
      networks: [...front.networks, { network: data, aliases: ['matomo-app'] }, { network: props.smtp.network }],
      ports: front.ports,
      uploads,
      user: 'www-data',
      // core:update migrates the visits' tables: only after a backup the deploy took.
      upgradeGate: props.image ? undefined : 'socle-matomo authorize-upgrade',
      tmpfs: { '/tmp': 128, '/var/www/matomo/tmp': 256 },
      healthcheck: { test: ['CMD', 'socle-matomo', 'healthy'], startPeriodSec: 240 },
      memoryMiB,
    });
    front.finish(app.construct);
    const interval = (props.archiveIntervalMinutes ?? 60) * 60;
    platform.container(this, 'Archiver', {
      service,
      role: 'archiver',
      image,
      command: ['scheduler'],
      env: { ...env, SOCLE_ARCHIVE_INTERVAL_SECONDS: String(interval) },
      // core:archive runs the scheduled tasks, which mail the scheduled reports: the relay only.
      networks: [{ network: data }, { network: props.smtp.network }],
      volumes: props.proxyLogs ? [{ volume: props.proxyLogs, path: '/var/log/socle-proxy', readOnly: true }] : [],
      uploads,
      user: 'www-data',
      tmpfs: { '/tmp': 64, '/var/www/matomo/tmp': 256 },
      // A marker touched after each successful archiving; a log import that failed shows too.
      healthcheck: {
        test: ['CMD-SHELL', `test -n "$(find /tmp/last-archive -mmin -${2 * (props.archiveIntervalMinutes ?? 60) + 5} 2>/dev/null)" && test ! -e /tmp/import-failed`],
        intervalSec: 60, startPeriodSec: 600,
      },
      memoryMiB,
    });
    this.audience = {
      upstream: front.upstream,
      privacy,
      logImport: props.proxyLogs !== undefined,
      trackerScript: renderFile(import.meta.url, './templates/socle-audience.js.tmpl', {
        siteId: TRACKER_SITE_ID, codeParameters: JSON.stringify(CODE_PARAMETERS),
      }),
      optOutScript: renderFile(import.meta.url, './templates/socle-opt-out.js.tmpl', { siteId: TRACKER_SITE_ID, optOutHours: OPT_OUT_COOKIE_HOURS }),
      optOutCookie: {
        name: 'mtm_consent_removed',
        purpose: 'retenir que vous vous opposez à la mesure d’audience de ce site',
        lifetime: `${OPT_OUT_COOKIE_HOURS / 24} jours (13 mois)`,
        setWhen: 'seulement si vous décochez la case d’opposition des mentions légales',
        noConsentBecause: 'il enregistre votre refus, à votre demande',
      },
    };
    this.route = {
      service, hostname: props.hostname, upstream: front.upstream, csp: MATOMO_CSP, onionPort: props.onionPort,
      // Its interface is for the commune's staff; core/Session.php names its session so.
      cookies: [{
        name: 'MATOMO_SESSID',
        purpose: 'session des agents de la commune connectés à l’interface des statistiques',
        lifetime: 'session',
        setWhen: 'à l’ouverture de la page de connexion de l’interface',
        noConsentBecause: 'strictement nécessaire à la connexion demandée',
      }],
    };
  }
}
