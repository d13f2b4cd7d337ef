import { Construct } from 'constructs';
import { relayTrust } from '../mail-gateway/index.js';
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
  /**
   * Days after a survey's end (its expiry date) when what citizens left in it (answers, codes,
   * saved partial answers, uploaded files) is deleted, by Socle's image, every hour. @default 180
   */
  readonly answersKeptDays?: number;
}

/** LimeSurvey's RemoteControl endpoint (JSON-RPC), and where the proxy refuses it. */
export const REMOTE_CONTROL_PATH = '/index.php/admin/remotecontrol';

// LimeSurvey's survey runtime and admin use inline scripts and eval: own origin only, still.
const LIMESURVEY_CSP = ownOriginCsp({ inlineScripts: true, inlineStyles: true, evalScripts: true });

/**
 * LimeSurvey, built by Socle from Debian and the official release archive (services/limesurvey),
 * with MariaDB, for surveys answered with anonymous single-use invitation codes. Installed by code
 * at first start, its per-installation keys generated at deploy.
 * @stateful - answers, uploads and database (personal data)
 */
export class LimeSurvey extends Construct implements IWebApp {
  public readonly route: ProxyRoute;

  constructor(scope: Construct, id: string, props: LimeSurveyProps) {
    super(scope, id);
    const service = 'limesurvey';
    const platform = Platform.of(this);
    platform.declareProcessing({
      services: [service],
      name: 'Enquêtes et votes par code à usage unique',
      purposes: ['recueillir les réponses aux enquêtes et votes de la commune, une seule par code'],
      legalBasis: 'mission d’intérêt public (article 6-1-e du RGPD)',
      people: ['habitants destinataires d’un code de participation'],
      data: ['codes de participation (imprimés à part du courrier nominatif, sans lien avec l’identité)', 'réponses, enregistrées sans le code (enquête anonymisée, vérifiée par npm run survey -- check)', 'adresse électronique, si l’invitation est envoyée par courriel'],
      recipients: ['service de la commune qui organise l’enquête'],
      measures: ['journaux du proxy sans le code ni l’adresse IP complète', 'courriel envoyé uniquement par le relais de la commune'],
    });
    const memoryMiB = props.memoryMiB ?? 512;
    if (memoryMiB < 256) throw new Error(`limesurvey memoryMiB must be at least 256, got ${memoryMiB}; raise services.limesurvey.memoryMiB in the city file`);
    const answersKeptDays = props.answersKeptDays ?? 180;
    if (!Number.isInteger(answersKeptDays) || answersKeptDays < 1) throw new Error(`limesurvey answersKeptDays must be a whole number of days, at least 1, got ${answersKeptDays}; fix services.limesurvey.answersKeptDays in the city file`);
    // The deletion is Socle's image's (socle-limesurvey purge-ended): an image the city packaged
    // itself enforces nothing Socle knows of, and the audit says so.
    const retention = {
      retention: `réponses, codes et fichiers déposés : ${answersKeptDays} jours après la date de fin de l’enquête, puis suppression`,
      retentionEnforcedBy: props.image ? undefined : `socle-limesurvey dans le conteneur de LimeSurvey, au démarrage puis toutes les heures : supprime ce que les participants ont laissé dans chaque enquête terminée depuis plus de ${answersKeptDays} jours (npm run survey -- check exige une date de fin)`,
    };
    const data = platform.network(this, { name: `${service}-data`, tier: 'data' });
    const db = new MariaDb(this, 'Database', { service, network: data, ...retention });
    const c = db.connection;
    const root = '/var/www/limesurvey';
    const uploads = platform.volume(this, { name: `${service}-uploads`, service, category: 'personal', ...retention });
    // Asset and runtime caches LimeSurvey rebuilds by itself; uploads in progress live here too.
    const cache = platform.volume(this, { name: `${service}-cache`, service, category: 'cache', retention: 'reconstruit par LimeSurvey', backup: false, preventDestroy: false });
    const port = 8080;
    const front = attachFrontend(platform, this, service, port, props.exposure);
    const app = platform.container(this, 'Resource', {
      service,
      role: 'app',
      image: props.image ?? 'limesurvey',
      env: {
        // Read by the entry point (database wait, install) and by config.php through getenv().
        DB_HOST: c.host, DB_PORT: String(c.port), DB_NAME: c.database, DB_USERNAME: c.user, DB_PASSWORD: c.password,
        ADMIN_USER: 'admin', ADMIN_NAME: 'Administrateur', ADMIN_EMAIL: props.smtp.from,
        ADMIN_PASSWORD: platform.generatedSecret(this, 'admin-password'),
        // Read by security.php: sodium secretbox key (32 bytes) and nonce (24 bytes), in hex.
        LIMESURVEY_ENCRYPTION_KEY: platform.generatedSecret(this, 'encryption-key', { length: 64, hex: true }),
        LIMESURVEY_ENCRYPTION_NONCE: platform.generatedSecret(this, 'encryption-nonce', { length: 48, hex: true }),
        SMTP_PASSWORD: props.smtp.password,
        SOCLE_ANSWERS_KEPT_DAYS: String(answersKeptDays),
        ...relayTrust(props.smtp).env,
        // Where X-Real-IP is believed from: the proxy's own network, or its host across the city network.
        ...(props.exposure.kind === 'network' ? { SOCLE_PROXY_NAME: 'proxy' } : { SOCLE_TRUSTED_PROXIES: `${props.exposure.proxyAddress}/32` }),
      },
      networks: [...front.networks, { network: data }, { network: props.smtp.network }],
      ports: front.ports,
      volumes: [{ volume: uploads, path: `${root}/upload` }, { volume: cache, path: `${root}/tmp` }],
      uploads: [
        {
          path: '/etc/socle/limesurvey/config.php',
          content: renderFile(import.meta.url, './templates/config.php.tmpl', {
            dbHost: c.host, dbPort: c.port, dbName: c.database, dbUser: c.user, hostname: props.hostname,
            smtpHost: props.smtp.host, smtpPort: props.smtp.port, smtpUser: props.smtp.user,
            smtpSsl: props.smtp.security === 'tls' ? 'ssl' : 'tls', from: props.smtp.from,
          }),
        },
        { path: '/etc/socle/limesurvey/security.php', content: renderFile(import.meta.url, './templates/security.php.tmpl', {}) },
        ...relayTrust(props.smtp).uploads,
      ],
      user: 'www-data',
      // Its mail's Message-ID names the container: in the city's sending domain.
      domain: props.smtp.domain,
      // updatedb migrates the answers' tables: only after a backup the deploy took (socle-limesurvey,
      // in Socle's image; an image the city packaged itself upgrades its own way).
      upgradeGate: props.image ? undefined : 'socle-limesurvey authorize-upgrade',
      tmpfs: { '/tmp': 128 },
      healthcheck: {
        // LimeSurvey answers from its database: its login page reads the global settings.
        test: ['CMD', 'curl', '--fail', '--silent', '--output', '/dev/null', `http://127.0.0.1:${port}/index.php/admin/authentication/sa/login`],
        startPeriodSec: 180,
      },
      memoryMiB,
    });
    front.finish(app.construct);
    this.route = {
      service, hostname: props.hostname, upstream: front.upstream, csp: LIMESURVEY_CSP, onionPort: props.onionPort,
      // RemoteControl (JSON-RPC, npm run survey) is for the stack's own network, never the internet.
      internalPaths: [REMOTE_CONTROL_PATH],
      // Answers are stored in arrival order: the log must not hold who arrived when.
      loggedAddress: 'masked',
      // PHP's session (php.ini's name: config.php sets none) and Yii's anti-forgery token.
      cookies: [{
        name: 'PHPSESSID',
        purpose: 'garder vos réponses d’une page du questionnaire à la suivante, jusqu’à l’envoi',
        lifetime: 'session',
        setWhen: 'à l’ouverture d’un questionnaire',
        noConsentBecause: 'strictement nécessaire au questionnaire que vous remplissez',
      }, {
        name: 'YII_CSRF_TOKEN',
        purpose: 'protéger vos réponses contre l’envoi par un autre site à votre insu',
        lifetime: 'session',
        setWhen: 'à l’ouverture d’une page à formulaire',
        noConsentBecause: 'strictement nécessaire à la sécurité du questionnaire',
      }],
    };
  }
}
