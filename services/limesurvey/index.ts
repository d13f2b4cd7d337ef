import { Construct } from 'constructs';
import { Platform } from '../common/platform.js';
import { MariaDb } from '../mariadb/index.js';
import { attachFrontend, ownOriginCsp, type IWebApp, type WebAppProps } from '../common/frontend.js';
import type { ProxyRoute } from '../reverse-proxy/index.js';
import { renderFile } from '../common/template.js';

export interface LimeSurveyProps extends WebAppProps {
  /** Public host name, e.g. `enquetes.ville-exemple.fr`. */
  readonly hostname: string;
  /** @default 512 */
  readonly memoryMiB?: number;
  /** An image the city packaged itself, under its registry namespace. @default Socle's (catalog `limesurvey`) */
  readonly image?: string;
}

// LimeSurvey's survey runtime and admin use inline scripts and eval: own origin only, still.
const LIMESURVEY_CSP = ownOriginCsp({ inlineScripts: true, inlineStyles: true, evalScripts: true });

/**
 * LimeSurvey (mirrored upstream image) with MariaDB, for surveys answered with anonymous
 * single-use invitation codes. @stateful - answers, uploads and database (personal data)
 */
export class LimeSurvey extends Construct implements IWebApp {
  public readonly route: ProxyRoute;

  constructor(scope: Construct, id: string, props: LimeSurveyProps) {
    super(scope, id);
    const service = 'limesurvey';
    const platform = Platform.of(this);
    const memoryMiB = props.memoryMiB ?? 512;
    if (memoryMiB < 256) throw new Error(`limesurvey memoryMiB must be at least 256, got ${memoryMiB}; raise services.limesurvey.memoryMiB in the city file`);
    const data = platform.network(this, { name: `${service}-data`, tier: 'data' });
    const db = new MariaDb(this, 'Database', { service, network: data });
    const c = db.connection;
    const uploads = platform.volume(this, { name: `${service}-uploads`, service, category: 'personal', retention: 'duration of the survey, then deleted' });
    const port = 8080;
    const front = attachFrontend(platform, this, service, port, props.exposure);
    const app = platform.container(this, 'Resource', {
      service,
      role: 'app',
      image: props.image ?? 'limesurvey',
      env: {
        // Read by the upstream entrypoint (database wait, install/upgrade) and by config.php via getenv().
        DB_TYPE: 'mysql', DB_HOST: c.host, DB_PORT: String(c.port), DB_NAME: c.database, DB_USERNAME: c.user, DB_PASSWORD: c.password,
        DB_MYSQL_ENGINE: 'InnoDB',
        ADMIN_USER: 'admin', ADMIN_NAME: 'Administrateur', ADMIN_EMAIL: props.smtp.from,
        ADMIN_PASSWORD: platform.generatedSecret(this, 'admin-password'),
        ENCRYPT_SECRET_BOX_KEY: platform.generatedSecret(this, 'encryption-key', { length: 64, hex: true }),
        PUBLIC_URL: `https://${props.hostname}/`,
        LISTEN_PORT: String(port),
        SMTP_PASSWORD: props.smtp.password,
      },
      networks: [...front.networks, { network: data }, { network: props.smtp.network }],
      ports: front.ports,
      volumes: [{ volume: uploads, path: '/var/www/html/upload' }],
      uploads: [{
        path: '/var/www/html/application/config/config.php',
        content: renderFile(import.meta.url, './templates/config.php.tmpl', {
          dbHost: c.host, dbPort: c.port, dbName: c.database, dbUser: c.user, hostname: props.hostname,
          smtpHost: props.smtp.host, smtpPort: props.smtp.port, smtpUser: props.smtp.user,
          smtpSsl: props.smtp.security === 'tls' ? 'ssl' : 'tls', from: props.smtp.from,
        }),
      }],
      // The upstream image runs as www-data on port 8080, but its entrypoint edits Apache's config
      // and writes config files at start: the root filesystem cannot be read-only.
      readOnlyRootfs: false,
      tmpfs: { '/tmp': 128 },
      healthcheck: { test: ['CMD-SHELL', `curl --fail --silent --output /dev/null http://127.0.0.1:${port}/ || exit 1`], startPeriodSec: 180 },
      memoryMiB,
    });
    front.finish(app.construct);
    this.route = { service, hostname: props.hostname, upstream: front.upstream, csp: LIMESURVEY_CSP, onionPort: props.onionPort };
  }
}
