import { Construct } from 'constructs';
import { Platform } from '../common/platform.js';
import { MariaDb } from '../mariadb/index.js';
import { attachFrontend, ownOriginCsp, type IWebApp, type WebAppProps } from '../common/frontend.js';
import type { ProxyRoute } from '../reverse-proxy/index.js';

export interface MatomoProps extends WebAppProps {
  /** Public host name, e.g. `statistiques.ville-exemple.fr`. */
  readonly hostname: string;
  /** @default 60 */
  readonly archiveIntervalMinutes?: number;
  /** @default 512 */
  readonly memoryMiB?: number;
}

// Matomo's reporting UI uses inline scripts and eval: own origin only, still.
const MATOMO_CSP = ownOriginCsp({ inlineScripts: true, inlineStyles: true, evalScripts: true });

/**
 * Self-hosted Matomo (mirrored upstream image) with MariaDB and its archiving job: audience
 * measurement without Google Analytics. @stateful - visits log (IP addresses: personal data)
 */
export class Matomo extends Construct implements IWebApp {
  public readonly route: ProxyRoute;

  constructor(scope: Construct, id: string, props: MatomoProps) {
    super(scope, id);
    const service = 'matomo';
    const platform = Platform.of(this);
    const data = platform.network(this, { name: `${service}-data`, tier: 'data' });
    const db = new MariaDb(this, 'Database', { service, network: data, retention: 'raw visit logs 180 days (Matomo privacy settings), reports kept' });
    const c = db.connection;
    // The upstream image installs Matomo into /var/www/html at first start and keeps config there.
    const files = platform.volume(this, { name: `${service}-files`, service, category: 'operational', retention: 'duration of the service', expectContent: true });
    const env = {
      MATOMO_DATABASE_HOST: c.host, MATOMO_DATABASE_PORT: String(c.port), MATOMO_DATABASE_ADAPTER: 'mysql',
      MATOMO_DATABASE_TABLES_PREFIX: 'matomo_', MATOMO_DATABASE_USERNAME: c.user, MATOMO_DATABASE_PASSWORD: c.password,
      MATOMO_DATABASE_DBNAME: c.database,
      // No phone home: no marketplace, no update check, no third-party geolocation.
      MATOMO_GENERAL_ENABLE_MARKETPLACE: '0', MATOMO_GENERAL_ENABLE_UPDATE_COMMUNICATION: '0',
      MATOMO_GENERAL_ENABLE_INTERNET_FEATURES: '0', MATOMO_GENERAL_FORCE_SSL: '1',
      MATOMO_GENERAL_PROXY_CLIENT_HEADERS: 'HTTP_X_FORWARDED_FOR', MATOMO_GENERAL_TRUSTED_HOSTS: props.hostname,
      MATOMO_MAIL_TRANSPORT: 'smtp', MATOMO_MAIL_HOST: props.smtp.host, MATOMO_MAIL_PORT: String(props.smtp.port),
      MATOMO_MAIL_TYPE: 'Plain', MATOMO_MAIL_USERNAME: props.smtp.user, MATOMO_MAIL_PASSWORD: props.smtp.password,
      MATOMO_MAIL_ENCRYPTION: props.smtp.security === 'tls' ? 'ssl' : 'tls', MATOMO_NOREPLY_EMAIL: props.smtp.from,
    };
    const port = 80;
    const front = attachFrontend(platform, this, service, port, props.exposure);
    const app = platform.container(this, 'Resource', {
      service,
      role: 'app',
      image: 'matomo',
      env,
      networks: [...front.networks, { network: data }, { network: props.smtp.network }],
      ports: front.ports,
      volumes: [{ volume: files, path: '/var/www/html' }],
      // Apache binds port 80 as root then drops to www-data; the entrypoint copies Matomo into its volume.
      readOnlyRootfs: false,
      capAdd: ['SETUID', 'SETGID', 'CHOWN', 'NET_BIND_SERVICE'],
      tmpfs: { '/tmp': 128 },
      healthcheck: { test: ['CMD-SHELL', 'curl --fail --silent --output /dev/null http://127.0.0.1/matomo.php || exit 1'], startPeriodSec: 120 },
      memoryMiB: props.memoryMiB ?? 512,
    });
    front.finish(app.construct);
    const interval = (props.archiveIntervalMinutes ?? 60) * 60;
    platform.container(this, 'Archiver', {
      service,
      role: 'archiver',
      image: 'matomo',
      entrypoint: ['sh', '-c'],
      // A marker touched after each successful run lets the healthcheck see archiving that fails.
      command: [`while :; do if php /var/www/html/console core:archive --url=https://${props.hostname}/; then touch /tmp/last-archive; else echo "archiving failed, retrying in ${interval}s" >&2; fi; sleep ${interval}; done`],
      env,
      networks: [{ network: data }],
      volumes: [{ volume: files, path: '/var/www/html' }],
      user: 'www-data',
      tmpfs: { '/tmp': 64 },
      healthcheck: { test: ['CMD-SHELL', `test -n "$(find /tmp/last-archive -mmin -${2 * (props.archiveIntervalMinutes ?? 60) + 5} 2>/dev/null)"`], intervalSec: 300, startPeriodSec: 600 + interval },
      memoryMiB: props.memoryMiB ?? 512,
    });
    this.route = { service, hostname: props.hostname, upstream: front.upstream, csp: MATOMO_CSP, onionPort: props.onionPort };
  }
}
