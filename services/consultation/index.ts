import { Construct } from 'constructs';
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
  /** @default 768 */
  readonly workerMemoryMiB?: number;
}

/**
 * The participation platform: web + worker + PostgreSQL + Redis. Decidim by default; CONSUL
 * Democracy or another Rails-like app through `preset`, `image` and `env`.
 * @stateful - uploads and database volumes (personal data)
 */
export class Consultation extends Construct implements IWebApp {
  public readonly route: ProxyRoute;

  constructor(scope: Construct, id: string, props: ConsultationProps) {
    super(scope, id);
    const service = 'consultation';
    const platform = Platform.of(this);
    const preset = PRESETS[props.preset ?? 'decidim'];
    const port = props.port ?? preset.port;
    const data = platform.network(this, { name: `${service}-data`, tier: 'data' });
    const db = new Postgres(this, 'Database', { service, network: data });
    const redis = new Redis(this, 'Redis', { service, network: data });
    // One volume per upload directory of the preset (Docker mounts whole volumes, not sub-paths).
    const uploads = preset.dataPaths.map((path, i) => ({
      path,
      volume: platform.volume(this, { name: `${service}-uploads${i === 0 ? '' : `-${i + 1}`}`, service, category: 'personal', retention: 'duration of the service, then deleted' }),
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
    const env: Record<string, string> = { SOCLE_HOSTNAME: props.hostname };
    for (const [k, v] of Object.entries({ ...preset.env, ...(props.env ?? {}) })) {
      env[k] = renderTemplate(v, values, `services.consultation.env.${k}`);
    }
    const common = {
      service,
      image: props.image ?? preset.image,
      env,
      volumes: uploads,
      tmpfs: preset.scratch,
    };
    const front = attachFrontend(platform, this, service, port, props.exposure);
    const web = platform.container(this, 'Web', {
      ...common,
      role: 'web',
      command: preset.webCommand,
      networks: [...front.networks, { network: data }, { network: props.smtp.network }],
      ports: front.ports,
      healthcheck: { test: preset.healthcheck, startPeriodSec: 180 },
      memoryMiB: props.memoryMiB ?? 1024,
    });
    front.finish(web.construct);
    platform.container(this, 'Worker', {
      ...common,
      role: 'worker',
      command: preset.workerCommand,
      networks: [{ network: data }, { network: props.smtp.network }],
      // The bracket keeps the check from matching its own command line.
      healthcheck: { test: ['CMD-SHELL', `grep -qsa '[${preset.workerCommand.at(-1)![0]}]${preset.workerCommand.at(-1)!.slice(1)}' /proc/[0-9]*/cmdline`], startPeriodSec: 120 },
      memoryMiB: props.workerMemoryMiB ?? 768,
    });
    this.route = { service, hostname: props.hostname, upstream: front.upstream, csp: preset.csp, onionPort: props.onionPort };
  }
}
