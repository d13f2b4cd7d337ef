import { readFileSync } from 'node:fs';
import type { Construct } from 'constructs';
import type { CityConfig, HostConfig, SecretRef } from './config/types.js';
import { HostStack } from './host-stack.js';
import { ReverseProxy } from '../services/reverse-proxy/index.js';
import type { ProcessingRegister } from '../services/reverse-proxy/register.js';
import { MailGateway } from '../services/mail-gateway/index.js';
import { Consultation } from '../services/consultation/index.js';
import { LimeSurvey } from '../services/limesurvey/index.js';
import { Matomo } from '../services/matomo/index.js';
import { OnionService } from '../services/onion/index.js';
import { BackupRunner, type BackupTarget } from '../services/backup/index.js';
import { BackupStore } from '../services/backup-store/index.js';
import type { FrontendExposure, IWebApp, WebAppProps } from '../services/common/frontend.js';
import { dumpAccountsOf } from '../services/common/database.js';

type Services = CityConfig['services'];
type WebAppName = 'consultation' | 'limesurvey' | 'matomo';

/** What every web app gets from the city: its name, mail, how the proxy reaches it, its onion port. */
type WebAppCommon = WebAppProps & { readonly hostname: string };

/**
 * The web apps a city file can enable, one row each: the proxy routes them, Tor serves them on
 * their onion port, the backups take their databases. Adding an app is adding a row.
 */
const WEB_APPS: { readonly [K in WebAppName]: {
  /** Proxy port the onion service forwards to (plain HTTP inside Tor). */
  readonly onionPort: number;
  readonly build: (stack: HostStack, common: WebAppCommon, settings: Services[K], city: CityConfig, proxy: ReverseProxy) => IWebApp;
} } = {
  consultation: {
    onionPort: 8081,
    build: (stack, common, c) => new Consultation(stack, 'consultation', {
      ...common, preset: c.preset, image: c.image, port: c.port, env: c.env, memoryMiB: c.memoryMiB, workerMemoryMiB: c.workerMemoryMiB,
    }),
  },
  limesurvey: {
    onionPort: 8082,
    build: (stack, common, l) => new LimeSurvey(stack, 'limesurvey', { ...common, memoryMiB: l.memoryMiB, image: l.image, answersKeptDays: l.answersKeptDays }),
  },
  matomo: {
    onionPort: 8083,
    build: (stack, common, m, city, proxy) => new Matomo(stack, 'matomo', {
      ...common, archiveIntervalMinutes: m.archiveIntervalMinutes, rawDataRetentionDays: m.rawDataRetentionDays, memoryMiB: m.memoryMiB, image: m.image,
      communeName: city.commune.name,
      measuredHostnames: WEB_APP_NAMES.filter((n) => n !== 'matomo' && city.services[n].enabled).map((n) => city.services[n].hostname),
      // The audience logs are on the proxy's volume: imported when Matomo runs beside the proxy.
      proxyLogs: m.host === city.services.proxy.host ? proxy.accessLogs : undefined,
    }),
  },
};
const WEB_APP_NAMES = Object.keys(WEB_APPS) as WebAppName[];

/** Human names of the services, for the legal notice. */
const SERVICE_LABELS: Record<string, string> = {
  proxy: 'Serveur mandataire (reverse proxy)',
  consultation: 'Plateforme de participation citoyenne',
  limesurvey: 'Enquêtes (LimeSurvey)',
  matomo: 'Mesure d’audience (Matomo)',
  onion: 'Service onion Tor',
  mail: 'Passerelle vers le serveur de messagerie de la commune',
  backup: 'Sauvegardes',
  'backup-store': 'Stockage des sauvegardes',
};

/** A secret variable of a stack and where the deploy step reads its value. */
export interface SecretBinding {
  readonly variable: string;
  readonly ref: SecretRef | { readonly generate: 'ssh-keypair' };
  readonly description: string;
}

export interface CityBuildOptions {
  /** Extra torrc lines, e.g. `DisableNetwork 1` for tests. */
  readonly extraTorrc?: readonly string[];
}

export interface CityStacks {
  readonly city: CityConfig;
  readonly stacks: ReadonlyMap<string, HostStack>;
  /** Per stack name: the secret variables it declares and their source. */
  readonly secrets: ReadonlyMap<string, readonly SecretBinding[]>;
}

/** Which services each host runs, from the configuration alone (for the legal notice). */
function placements(city: CityConfig): Map<string, string[]> {
  const s = city.services;
  const byHost = new Map<string, string[]>(city.hosts.map((h) => [h.name, []]));
  const add = (host: string, name: string) => byHost.get(host)!.push(name);
  add(s.proxy.host, 'proxy');
  for (const name of WEB_APP_NAMES) if (s[name].enabled) add(s[name].host, `${name} (${s[name].hostname})`);
  if (s.onion.enabled) add(s.onion.host, 'onion');
  if (s.backup.enabled && s.backup.store) add(s.backup.store.host, 'backup-store');
  return byHost;
}

function label(entry: string): string {
  const [name, rest] = entry.split(' (');
  return rest ? `${SERVICE_LABELS[name] ?? name} (${rest}` : SERVICE_LABELS[name] ?? name;
}

/**
 * Declares one commune: a HostStack per city host, each service placed where the file says, wired
 * through interfaces (routes, SMTP settings, databases) rather than strings.
 */
export function buildCity(scope: Construct, city: CityConfig, options: CityBuildOptions = {}): CityStacks {
  const slug = city.commune.slug;
  const s = city.services;
  const hostByName = new Map<string, HostConfig>(city.hosts.map((h) => [h.name, h]));
  const stacks = new Map<string, HostStack>();
  const secrets = new Map<string, SecretBinding[]>();
  const stackFor = (hostName: string): HostStack => {
    let stack = stacks.get(hostName);
    if (!stack) {
      stack = new HostStack(scope, `${slug}-${hostName}`, { city, host: hostByName.get(hostName)! });
      stacks.set(hostName, stack);
      secrets.set(stack.node.id, []);
    }
    return stack;
  };
  const secret = (stack: HostStack, variable: string, ref: SecretBinding['ref'], description: string): string => {
    const list = secrets.get(stack.node.id)!;
    if (!list.some((b) => b.variable === variable)) list.push({ variable, ref, description });
    return stack.secretVariable(variable, description);
  };
  for (const h of city.hosts) {
    const stack = stackFor(h.name);
    if (city.registry.password) secret(stack, 'registry_password', city.registry.password, `password of ${city.registry.username} on ${city.registry.host}`);
  }

  const proxyStack = stackFor(s.proxy.host);
  const placed = placements(city);
  const proxy = new ReverseProxy(proxyStack, 'proxy', {
    bindAddress: s.proxy.bindAddress,
    httpPort: s.proxy.httpPort,
    httpsPort: s.proxy.httpsPort,
    accessLogRetentionDays: s.proxy.accessLogRetentionDays,
    accessLogMaxMiB: s.proxy.accessLogMaxMiB,
    securityContact: city.commune.securityContact,
    memoryMiB: s.proxy.memoryMiB,
    onion: s.onion.enabled,
    tls: city.tls.mode === 'acme' ? { mode: 'acme', ...city.tls.acme! } : { mode: 'files', directory: city.tls.files!.directory },
    legalNotice: {
      communeName: city.commune.name, legalEntity: city.commune.legalEntity, siren: city.commune.siren,
      address: city.commune.address, phone: city.commune.phone, email: city.commune.email,
      publicationDirector: city.commune.publicationDirector, dpo: city.commune.dpo,
      hosts: city.hosts.map((h) => ({ name: h.name, owner: h.owner, site: h.site, services: placed.get(h.name)!.map(label) })),
    },
    // Read at synth, when every service on every host has declared its processing and volumes.
    register: () => processingRegister(city, [...stacks.values()]),
  });
  const onion = s.onion.enabled
    ? new OnionService(proxyStack, 'onion', { network: proxy.publicNetwork, addresses: proxy.onionAddresses!, extraTorrc: [...(s.onion.offline ? ['DisableNetwork 1'] : []), ...(options.extraTorrc ?? [])] })
    : undefined;

  const relayCa = city.mail.relay.ca ? readFileSync(city.mail.relay.ca, 'utf8') : undefined;
  const gateways = new Map<string, MailGateway>();
  const smtpOn = (hostName: string) => {
    // One gateway per host that has apps sending mail.
    let gateway = gateways.get(hostName);
    if (!gateway) {
      const stack = stackFor(hostName);
      gateway = new MailGateway(stack, 'mail', {
        hostname: city.mail.relay.host, address: city.mail.relay.address, port: city.mail.relay.port,
        security: city.mail.relay.security, user: city.mail.relay.user, from: city.mail.from,
        password: secret(stack, 'smtp_password', city.mail.relay.password, `password of ${city.mail.relay.user} on ${city.mail.relay.host}`),
        ca: relayCa,
      });
      gateways.set(hostName, gateway);
    }
    return gateway.smtp;
  };
  const exposure = (hostName: string, upstreamPort: number): FrontendExposure => hostName === s.proxy.host
    ? { kind: 'network', network: proxy.frontendNetwork }
    : { kind: 'published', address: hostByName.get(hostName)!.privateAddress, port: upstreamPort, proxyHost: s.proxy.host, proxyAddress: hostByName.get(s.proxy.host)!.privateAddress };

  const apps: IWebApp[] = [];
  for (const name of WEB_APP_NAMES) {
    const settings = s[name];
    if (!settings.enabled) continue;
    const common: WebAppCommon = {
      hostname: settings.hostname, smtp: smtpOn(settings.host), exposure: exposure(settings.host, settings.upstreamPort),
      onionPort: onion ? WEB_APPS[name].onionPort : undefined,
    };
    // Each row's build takes its own settings type; the name ties the two together.
    const build = WEB_APPS[name].build as (stack: HostStack, common: WebAppCommon, settings: Services[WebAppName], city: CityConfig, proxy: ReverseProxy) => IWebApp;
    const app = build(stackFor(settings.host), common, settings, city, proxy);
    if (app instanceof Matomo) proxy.measureAudience(app.audience);
    apps.push(app);
  }
  for (const app of apps) {
    proxy.addRoute(app.route);
    if (onion && app.route.onionPort) onion.expose(app.route.service, app.route.onionPort);
  }

  if (s.backup.enabled) {
    // The store, when the city has one: runners on its host reach it over its network, the others
    // at its host's private address.
    let storeTargetFor: (stack: HostStack) => BackupTarget[] = () => [];
    if (s.backup.store) {
      const storeHost = hostByName.get(s.backup.store.host)!;
      const storeStack = stackFor(storeHost.name);
      const store = new BackupStore(storeStack, 'backup-store', {
        address: storeHost.privateAddress, port: s.backup.store.port,
        authorizedKeys: secret(storeStack, 'backup_authorized_keys', { generate: 'ssh-keypair' }, 'public key of the backup runners (one line per key)'),
      });
      const repository = { name: 'store', user: 'restic', path: `/srv/restic/${slug}` };
      storeTargetFor = (stack) => [stack === storeStack
        ? { ...repository, ...store.localAddress, network: store.network }
        : { ...repository, host: storeHost.privateAddress, port: store.port }];
    }
    // A runner reads its host's volumes and databases when the stack is synthesized; a host with
    // nothing to back up gets none.
    for (const [hostName, stack] of [...stacks]) {
      if (!stack.volumes.some((v) => v.props.backup) && dumpAccountsOf(stack).length === 0) continue;
      new BackupRunner(stack, 'backup', {
        alerts: { to: city.mail.alerts, smtp: smtpOn(hostName), label: `${city.commune.name}, ${hostName}` },
        targets: [...s.backup.targets, ...storeTargetFor(stack)],
        password: secret(stack, 'restic_password', s.backup.password!, 'key of the restic repositories, held by the city'),
        sshPrivateKey: secret(stack, 'backup_ssh_private_key', { generate: 'ssh-keypair' }, 'SSH key the backup runner uses to reach the targets'),
        schedule: s.backup.schedule, retention: s.backup.retention, checkEveryDays: s.backup.checkEveryDays, maxAgeHours: s.backup.maxAgeHours,
      });
    }
  }
  return { city, stacks, secrets };
}

/** The Art. 30 register: each host's declared processing, with the personal-data volumes of its services across every host. */
function processingRegister(city: CityConfig, stacks: readonly HostStack[]): ProcessingRegister {
  const volumes = stacks.flatMap((stack) => stack.volumes.filter((v) => v.props.category === 'personal').map((v) => ({ stack, v })));
  const seen = new Set<string>();
  const entries = stacks.flatMap((s) => s.processing).filter((a) => !seen.has(a.name) && seen.add(a.name)).map((activity) => ({
    activity,
    stores: volumes.filter(({ v }) => activity.services.includes(v.props.service)).map(({ stack, v }) => ({
      volume: stack.qualify(v.props.name), host: stack.host.name, site: stack.host.site, retention: v.props.retention, enforcedBy: v.props.retentionEnforcedBy, backedUp: v.props.backup === true || v.props.dumped === true,
    })),
  }));
  const b = city.services.backup;
  const storeHost = b.store ? city.hosts.find((h) => h.name === b.store!.host) : undefined;
  return {
    entries,
    backups: b.enabled ? [...b.targets.map((t) => ({ name: t.name, host: t.host, site: t.site })), ...(storeHost ? [{ name: 'store', host: storeHost.name, site: storeHost.site }] : [])] : [],
    externalParties: city.externalParties.map((p) => ({ name: p.name, role: p.role, reason: p.reason })),
  };
}
