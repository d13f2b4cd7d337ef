import type { Construct } from 'constructs';
import type { CityConfig, HostConfig, SecretRef } from './config/types.js';
import { HostStack } from './host-stack.js';
import { ReverseProxy } from '../services/reverse-proxy/index.js';
import { ZimbraRelay } from '../services/mail-relay/index.js';
import { Consultation } from '../services/consultation/index.js';
import { LimeSurvey } from '../services/limesurvey/index.js';
import { Matomo } from '../services/matomo/index.js';
import { OnionService } from '../services/onion/index.js';
import { BackupRunner, type BackupTarget } from '../services/backup/index.js';
import { BackupStore } from '../services/backup-store/index.js';
import type { FrontendExposure, IWebApp } from '../services/common/frontend.js';
import type { DatabaseConnection } from '../services/common/database.js';

/** Proxy ports the onion service forwards to, one per site (plain HTTP inside Tor). */
export const ONION_PORTS = { consultation: 8081, limesurvey: 8082, matomo: 8083 } as const;

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
  if (s.consultation.enabled) add(s.consultation.host, `consultation (${s.consultation.hostname})`);
  if (s.limesurvey.enabled) add(s.limesurvey.host, `limesurvey (${s.limesurvey.hostname})`);
  if (s.matomo.enabled) add(s.matomo.host, `matomo (${s.matomo.hostname})`);
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
  });
  const onion = s.onion.enabled
    ? new OnionService(proxyStack, 'onion', { network: proxy.publicNetwork, addresses: proxy.onionAddresses!, extraTorrc: [...(s.onion.offline ? ['DisableNetwork 1'] : []), ...(options.extraTorrc ?? [])] })
    : undefined;

  const relays = new Map<string, ZimbraRelay>();
  const smtpOn = (hostName: string) => {
    let relay = relays.get(hostName);
    if (!relay) {
      const stack = stackFor(hostName);
      relay = new ZimbraRelay(stack, 'mail', {
        hostname: city.mail.relay.host, address: city.mail.relay.address, port: city.mail.relay.port,
        security: city.mail.relay.security, user: city.mail.relay.user, from: city.mail.from,
        password: secret(stack, 'smtp_password', city.mail.relay.password, `password of ${city.mail.relay.user} on ${city.mail.relay.host}`),
      });
      relays.set(hostName, relay);
    }
    return relay.smtp;
  };
  const exposure = (hostName: string, upstreamPort: number): FrontendExposure => hostName === s.proxy.host
    ? { kind: 'network', network: proxy.frontendNetwork }
    : { kind: 'published', address: hostByName.get(hostName)!.privateAddress, port: upstreamPort, proxyHost: s.proxy.host };

  const databases = new Map<string, DatabaseConnection[]>();
  const apps: Array<{ host: string } & IWebApp> = [];
  if (s.consultation.enabled) {
    const c = s.consultation;
    const app = new Consultation(stackFor(c.host), 'consultation', {
      hostname: c.hostname, preset: c.preset, image: c.image, port: c.port, env: c.env,
      memoryMiB: c.memoryMiB, workerMemoryMiB: c.workerMemoryMiB,
      smtp: smtpOn(c.host), exposure: exposure(c.host, c.upstreamPort), onionPort: onion ? ONION_PORTS.consultation : undefined,
    });
    apps.push({ host: c.host, route: app.route, databases: app.databases });
  }
  if (s.limesurvey.enabled) {
    const l = s.limesurvey;
    const app = new LimeSurvey(stackFor(l.host), 'limesurvey', {
      hostname: l.hostname, memoryMiB: l.memoryMiB, image: l.image,
      smtp: smtpOn(l.host), exposure: exposure(l.host, l.upstreamPort), onionPort: onion ? ONION_PORTS.limesurvey : undefined,
    });
    apps.push({ host: l.host, route: app.route, databases: app.databases });
  }
  if (s.matomo.enabled) {
    const m = s.matomo;
    const app = new Matomo(stackFor(m.host), 'matomo', {
      hostname: m.hostname, archiveIntervalMinutes: m.archiveIntervalMinutes, memoryMiB: m.memoryMiB,
      smtp: smtpOn(m.host), exposure: exposure(m.host, m.upstreamPort), onionPort: onion ? ONION_PORTS.matomo : undefined,
    });
    apps.push({ host: m.host, route: app.route, databases: app.databases });
  }
  for (const app of apps) {
    proxy.addRoute(app.route);
    if (onion && app.route.onionPort) onion.expose(app.route.service, app.route.onionPort);
    databases.set(app.host, [...(databases.get(app.host) ?? []), ...app.databases]);
  }

  if (s.backup.enabled) {
    const targets: BackupTarget[] = [...s.backup.targets];
    if (s.backup.store) {
      const storeHost = hostByName.get(s.backup.store.host)!;
      const storeStack = stackFor(storeHost.name);
      new BackupStore(storeStack, 'backup-store', {
        address: storeHost.privateAddress, port: s.backup.store.port,
        authorizedKeys: secret(storeStack, 'backup_authorized_keys', { generate: 'ssh-keypair' }, 'public key of the backup runners (one line per key)'),
      });
      targets.push({ name: 'store', host: storeHost.privateAddress, port: s.backup.store.port, user: 'restic', path: `/srv/restic/${slug}` });
    }
    for (const [hostName, stack] of stacks) {
      const volumes = stack.volumes.filter((v) => v.props.backup);
      const dbs = databases.get(hostName) ?? [];
      if (volumes.length === 0 && dbs.length === 0) continue;
      new BackupRunner(stack, 'backup', {
        targets, volumes, databases: dbs,
        password: secret(stack, 'restic_password', s.backup.password!, 'key of the restic repositories, held by the city'),
        sshPrivateKey: secret(stack, 'backup_ssh_private_key', { generate: 'ssh-keypair' }, 'SSH key the backup runner uses to reach the targets'),
        schedule: s.backup.schedule, retention: s.backup.retention, checkEveryDays: s.backup.checkEveryDays, maxAgeHours: s.backup.maxAgeHours,
      });
    }
  }
  return { city, stacks, secrets };
}
