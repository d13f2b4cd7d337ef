import { Construct } from 'constructs';
import { relayTrust } from '../mail-gateway/index.js';
import { Platform } from '../common/platform.js';
import { Postgres } from '../postgres/index.js';
import { Redis } from '../redis/index.js';
import { attachFrontend, type IWebApp, type WebAppProps } from '../common/frontend.js';
import type { ProxyRoute } from '../reverse-proxy/index.js';
import { renderTemplate } from '../common/template.js';
import { PRESETS } from './presets.js';
import type { CONSULTATION_PLACEHOLDERS } from './placeholders.js';

export interface ConsultationProps extends WebAppProps {
  /** Public host name, e.g. `participer.ville-exemple.fr`. */
  readonly hostname: string;
  /** @default 'decidim' */
  readonly preset?: keyof typeof PRESETS;
  /** Image replacing the preset's (catalog key or name under the registry namespace). @default the preset's */
  readonly image?: string;
  /** Port the app listens on. @default the preset's */
  readonly port?: number;
  /** Extra or overriding environment; placeholders as in the preset. @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** @default 1024 */
  readonly memoryMiB?: number;
  /** Memory of the worker, and of the scheduler. @default 768 */
  readonly workerMemoryMiB?: number;
}

/**
 * The participation platform, Decidim (services/consultation/README.md): web (migrations, first
 * system admin, server) + Sidekiq worker + scheduler of Decidim's periodic tasks + PostgreSQL +
 * Redis. A city image replaces the upstream one through `image` and `env`, on the same conventions.
 * @stateful - uploads and database volumes (personal data)
 */
export class Consultation extends Construct implements IWebApp {
  public readonly route: ProxyRoute;

  constructor(scope: Construct, id: string, props: ConsultationProps) {
    super(scope, id);
    const service = 'consultation';
    const platform = Platform.of(this);
    platform.declareProcessing({
      services: [service],
      name: 'Plateforme de participation citoyenne',
      purposes: ['permettre aux habitants de déposer des propositions, de les commenter et de participer aux concertations de la commune', 'informer les participants de la suite donnée'],
      legalBasis: 'mission d’intérêt public (article 6-1-e du RGPD)',
      people: ['participants inscrits', 'agents et élus qui animent les concertations'],
      data: ['nom ou pseudonyme, adresse électronique, mot de passe (haché)', 'contributions, commentaires, soutiens', 'fichiers déposés'],
      recipients: ['service de la commune chargé de la participation', 'administrateurs de la plateforme'],
      measures: ['courriel envoyé uniquement par le relais de la commune'],
    });
    const preset = PRESETS[props.preset ?? 'decidim'];
    const port = props.port ?? preset.port;
    const data = platform.network(this, { name: `${service}-data`, tier: 'data' });
    const db = new Postgres(this, 'Database', { service, network: data, ...preset.retention.database });
    const redis = new Redis(this, 'Redis', { service, network: data });
    // One volume per upload directory of the preset (Docker mounts whole volumes, not sub-paths).
    const uploads = preset.dataPaths.map((path, i) => ({
      path,
      volume: platform.volume(this, { name: `${service}-uploads${i === 0 ? '' : `-${i + 1}`}`, service, category: 'personal', ...preset.retention.uploads }),
    }));
    const c = db.connection;
    const values: Record<(typeof CONSULTATION_PLACEHOLDERS)[number], string | number> = {
      'database.host': c.host, 'database.port': c.port, 'database.name': c.database, 'database.user': c.user,
      'database.password': c.password, 'database.url': `postgres://${c.user}:${c.password}@${c.host}:${c.port}/${c.database}`,
      'redis.url': redis.url,
      'smtp.host': props.smtp.host, 'smtp.port': props.smtp.port, 'smtp.user': props.smtp.user, 'smtp.password': props.smtp.password,
      'smtp.starttls': String(props.smtp.security === 'starttls'), 'smtp.tls': String(props.smtp.security === 'tls'),
      'mail.from': props.smtp.from, 'mail.domain': props.smtp.from.split('@')[1],
      hostname: props.hostname,
      secretKeyBase: platform.generatedSecret(this, 'secret-key-base', { length: 128 }),
    };
    // The relay's CA, when the city signs its certificate: the app checks it like any other.
    const trust = relayTrust(props.smtp);
    const env: Record<string, string> = { SOCLE_HOSTNAME: props.hostname, ...trust.env };
    for (const [k, v] of Object.entries({ ...preset.env, ...(props.env ?? {}) })) {
      env[k] = renderTemplate(v, values, `services.consultation.env.${k}`);
    }
    const common = {
      service,
      image: props.image ?? preset.image,
      env,
      volumes: uploads,
      uploads: trust.uploads,
      domain: props.smtp.domain,
      tmpfs: preset.scratch,
    };
    // Mail, notifications and periodic tasks reach the city relay through the gateway only.
    const backend = [{ network: data }, { network: props.smtp.network }];
    // The bracket keeps a check from matching its own command line.
    const running = (program: string) => ['CMD-SHELL', `grep -qsa '[${program[0]}]${program.slice(1)}' /proc/[0-9]*/cmdline`];
    const front = attachFrontend(platform, this, service, port, props.exposure);
    const web = platform.container(this, 'Web', {
      ...common,
      role: 'web',
      // The first system admin, at the first start only: its password is in the encrypted state.
      env: { ...env, SOCLE_SYSTEM_ADMIN_EMAIL: props.smtp.from, SOCLE_SYSTEM_ADMIN_PASSWORD: platform.generatedSecret(this, 'system-admin-password') },
      command: preset.webCommand(port),
      networks: [...front.networks, ...backend],
      ports: front.ports,
      // The first start runs every migration of an empty database before the server listens.
      healthcheck: { test: preset.healthcheck(port), startPeriodSec: 600 },
      memoryMiB: props.memoryMiB ?? 1024,
    });
    front.finish(web.construct);
    platform.container(this, 'Worker', {
      ...common,
      role: 'worker',
      command: preset.workerCommand,
      networks: backend,
      healthcheck: { test: running(preset.workerProcess), startPeriodSec: 120 },
      memoryMiB: props.workerMemoryMiB ?? 768,
    });
    platform.container(this, 'Scheduler', {
      ...common,
      role: 'scheduler',
      command: preset.schedulerCommand,
      networks: backend,
      healthcheck: { test: running(preset.schedulerProcess), startPeriodSec: 60 },
      memoryMiB: props.workerMemoryMiB ?? 768,
    });
    this.route = { service, hostname: props.hostname, upstream: front.upstream, csp: preset.csp, onionPort: props.onionPort };
  }
}
