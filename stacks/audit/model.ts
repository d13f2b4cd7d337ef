// What the auditor's report is about, read from the synthesized output (what Terraform will apply)
// and from the city file (who owns what, where the machines are). The checks (checks.ts) and the
// renderers (report.ts) only read this model: nothing here decides whether something is right.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LABEL } from '../../core/labels.js';
import type { CityConfig } from '../config/types.js';
import { inNetwork, isUnder } from '../config/checks/ownership.js';
import { generatedFileOf } from '../host-stack.js';
import { REGISTER_FILE } from '../../services/reverse-proxy/register.js';
import { COOKIES_NOTICE_FILE } from '../../services/reverse-proxy/cookies-notice.js';
import { AUDIENCE_SCRIPT_FILE, NGINX_CONF_FILE } from '../../services/reverse-proxy/index.js';
import type { LiveObservations } from './live.js';
import type { LettersObservation } from './letters.js';

/** Where the proxy serves the legal notice from (services/reverse-proxy). */
export const LEGAL_NOTICE_FILE = '/etc/socle/mentions-legales.html';

export interface AuditedHost {
  readonly name: string;
  readonly address: string;
  readonly site: string;
  readonly owner: string;
  readonly stack: string;
}

/** One place personal (or secret) data is kept: a volume, or a backup repository. */
export interface DataStore {
  readonly id: string;
  readonly kind: 'volume' | 'backup-repository';
  readonly service: string;
  /** The city host it is on, or the backup target's host name. */
  readonly host: string;
  /** Physical site; undefined when the city file does not say. */
  readonly site?: string;
  /** Who owns the machine: the commune, or an external party the city file declares. */
  readonly owner: string;
  readonly category: string;
  readonly personal: boolean;
  readonly retention: string;
  /** What deletes the data once the retention is over; undefined when nothing does. */
  readonly enforcedBy?: string;
  /** Backup repositories it is copied to (names of targets). */
  readonly backedUpTo: readonly string[];
}

/** A destination some container (or the host engine) reaches outside its host. */
export interface OutboundFlow {
  readonly from: string;
  readonly network?: string;
  readonly to: string;
  readonly port?: number;
  readonly protocol: string;
  readonly reason: string;
  /** The commune, an external party it declares (by name), or the internet (Tor's relays). */
  readonly owner: string;
  readonly ownedByCity: boolean;
}

export interface AuditedContainer {
  readonly name: string;
  readonly host: string;
  readonly service: string;
  readonly image: string;
  readonly networks: ReadonlyArray<{ readonly name: string; readonly internal: boolean; readonly tier: string }>;
  /** Destinations the container can reach off its host (empty: none). */
  readonly routesOut: readonly string[];
}

export interface PolicyResult {
  readonly ruleId: string;
  readonly level: string;
  readonly stack: string;
  readonly path: string;
  readonly status: string;
  readonly reason?: string;
}

export interface AuditedCommune {
  readonly file: string;
  readonly slug: string;
  readonly name: string;
  readonly legalEntity: string;
  readonly address: string;
  readonly phone: string;
  readonly email: string;
  readonly publicationDirector: string;
  readonly dpo: { readonly name: string; readonly email: string };
  readonly owns: { readonly domains: readonly string[]; readonly networks: readonly string[] };
  readonly registry: string;
  readonly hosts: readonly AuditedHost[];
  readonly publicNames: ReadonlyArray<{ readonly hostname: string; readonly service: string }>;
  readonly onion: boolean;
  readonly mailRelay: { readonly host: string; readonly address: string; readonly ownedByCity: boolean; readonly owner: string };
  readonly stores: readonly DataStore[];
  readonly flows: readonly OutboundFlow[];
  readonly containers: readonly AuditedContainer[];
  readonly images: ReadonlyArray<{ readonly stack: string; readonly name: string }>;
  readonly policy: readonly PolicyResult[];
  /** The legal notice as the proxy serves it, per stack running a proxy. */
  readonly legalNotices: ReadonlyArray<{ readonly stack: string; readonly html: string }>;
  /** The Art. 30 register as the proxy serves it, per stack running a proxy. */
  readonly registers: ReadonlyArray<{ readonly stack: string; readonly html: string }>;
  /** The cookies and trackers notice as the proxy serves it, per stack running a proxy. */
  readonly cookieNotices: ReadonlyArray<{ readonly stack: string; readonly html: string }>;
  /** Every site the proxy serves (HTTPS, onion), with the app behind it and the Content-Security-Policy it sends. */
  readonly sites: ReadonlyArray<{ readonly stack: string; readonly serverName: string; readonly listen: string; readonly upstream?: string; readonly csp?: string }>;
  /** The audience tracker as the proxy serves it to visitors, when the city measures audience. */
  readonly trackerScript?: string;
  /** What the deployed city answered (npm run audit --live); absent for the static audit. */
  readonly live?: LiveObservations;
  /** A print run of the invitation letters, read back (npm run audit --letters DIR). */
  readonly letters?: LettersObservation;
  /** Parties the city file declares it depends on. */
  readonly externalParties: ReadonlyArray<{ readonly name: string; readonly role: string; readonly reason: string }>;
}

const labelsOf = (raw: unknown): Record<string, string> =>
  Array.isArray(raw) ? Object.fromEntries(raw.map((l: { label: string; value: string }) => [l.label, l.value])) : (raw as Record<string, string>) ?? {};

/** `${docker_network.network-x.name}` → the network resource's literal name. */
function literal(value: string, resources: Record<string, Record<string, { name?: string }>>): string {
  return value.replace(/\$\{(docker_\w+)\.([\w-]+)\.name\}/g, (whole, type, id) => resources[type]?.[id]?.name ?? whole);
}

function ownerOf(city: CityConfig, target: string, role?: string): { owner: string; ownedByCity: boolean } {
  const host = target.toLowerCase();
  const owned = /^\d+\.\d+\.\d+\.\d+$/.test(host)
    ? city.commune.owns.networks.some((n) => inNetwork(host, n))
    : city.commune.owns.domains.some((d) => isUnder(host, d)) || city.hosts.some((h) => h.name === host);
  if (owned) return { owner: city.commune.legalEntity, ownedByCity: true };
  const party = city.externalParties.find((p) => (role === undefined || p.role === role) && ((p.host && isUnder(host, p.host)) || (p.address && inNetwork(host, p.address))));
  return { owner: party ? party.name : 'unknown: nobody the city file declares', ownedByCity: false };
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The audit model of one commune, from its city file and the output `npm run synth` wrote in `outdir`. */
export function auditedCommune(city: CityConfig, outdir: string): AuditedCommune {
  const slug = city.commune.slug;
  const stacksDir = join(outdir, 'stacks');
  const stackNames = readdirSync(stacksDir).filter((s) => s.startsWith(`${slug}-`) && city.hosts.some((h) => s === `${slug}-${h.name}`));
  const hostOfStack = (stack: string) => city.hosts.find((h) => stack === `${slug}-${h.name}`)!;
  const hosts: AuditedHost[] = city.hosts.map((h) => ({ name: h.name, address: h.privateAddress, site: h.site, owner: h.owner, stack: `${slug}-${h.name}` }));
  const stores: DataStore[] = [];
  const flows: OutboundFlow[] = [];
  const containers: AuditedContainer[] = [];
  const images: Array<{ stack: string; name: string }> = [];
  const policy: PolicyResult[] = [];
  const legalNotices: Array<{ stack: string; html: string }> = [];
  const registers: Array<{ stack: string; html: string }> = [];
  const cookieNotices: Array<{ stack: string; html: string }> = [];
  const sites: Array<{ stack: string; serverName: string; listen: string; upstream?: string; csp?: string }> = [];
  let trackerScript: string | undefined;
  const backup = city.services.backup;
  const targetNames = [...backup.targets.map((t) => t.name), ...(backup.store ? ['store'] : [])];

  for (const stack of stackNames) {
    const host = hostOfStack(stack);
    const json = readJson<{ resource?: Record<string, Record<string, any>> }>(join(stacksDir, stack, 'cdk.tf.json'));
    const resources = json.resource ?? {};
    const networks = new Map<string, { internal: boolean; tier: string }>();
    for (const n of Object.values<any>(resources.docker_network ?? {})) networks.set(n.name, { internal: n.internal === true, tier: labelsOf(n.labels)[LABEL.tier] ?? '?' });
    const vars = existsSync(join(stacksDir, stack, 'ansible-vars.json'))
      ? readJson<{ docker_host__egress_communes: Array<{ flows: Array<{ network: string; to: string; port: number | null; protocol: string; reason: string }> }> }>(join(stacksDir, stack, 'ansible-vars.json'))
      : { docker_host__egress_communes: [] };
    const stackFlows = vars.docker_host__egress_communes.flatMap((c) => c.flows);
    for (const v of Object.values<any>(resources.docker_volume ?? {})) {
      const l = labelsOf(v.labels);
      const backedUp = l[LABEL.backup] === 'true' || l[LABEL.backupDump] === 'true';
      stores.push({
        id: v.name, kind: 'volume', service: l[LABEL.service] ?? '?', host: host.name, site: host.site, owner: host.owner,
        category: l[LABEL.dataCategory] ?? '?', personal: l[LABEL.personalData] === 'true', retention: l[LABEL.retention] ?? '',
        enforcedBy: l[LABEL.retentionEnforcedBy], backedUpTo: backup.enabled && backedUp ? targetNames : [],
      });
    }
    for (const i of Object.values<any>(resources.docker_image ?? {})) images.push({ stack, name: i.name });
    for (const c of Object.values<any>(resources.docker_container ?? {})) {
      const l = labelsOf(c.labels);
      const joined = c.network_mode === 'none' ? [] : (c.networks_advanced ?? []).map((n: any) => literal(n.name, resources));
      const nets = joined.map((name: string) => ({ name, ...(networks.get(name) ?? { internal: false, tier: '?' }) }));
      const routesOut = nets.filter((n: { internal: boolean }) => !n.internal).flatMap((n: { name: string; tier: string }) => {
        const allowed = stackFlows.filter((f) => f.network === n.name).map((f) => `${f.to}${f.port ? `:${f.port}` : ''}`);
        // The public network carries the proxy's published ports: answers to visitors, no route out.
        return allowed.length ? allowed : n.name.endsWith('-public') ? ['answers to visitors (published ports)'] : [`${n.name}: no flow allowed by the host firewall`];
      });
      containers.push({ name: c.name, host: host.name, service: l[LABEL.service] ?? '?', image: literal(String(c.image).replace(/\$\{docker_image\.([\w-]+)\.image_id\}/, (w, id) => resources.docker_image?.[id]?.name ?? w), resources), networks: nets, routesOut });
      const notice = generatedFileOf(c, LEGAL_NOTICE_FILE);
      if (notice !== undefined) legalNotices.push({ stack, html: notice });
      const register = generatedFileOf(c, REGISTER_FILE);
      if (register !== undefined) registers.push({ stack, html: register });
      const cookies = generatedFileOf(c, COOKIES_NOTICE_FILE);
      if (cookies !== undefined) cookieNotices.push({ stack, html: cookies });
      const tracker = generatedFileOf(c, AUDIENCE_SCRIPT_FILE);
      if (tracker) trackerScript = tracker;
      const nginx = generatedFileOf(c, NGINX_CONF_FILE);
      // Each server block that serves pages (plain HTTP only redirects to HTTPS; unknown names get 421).
      for (const block of nginx?.split(/\n\s*server \{/).slice(1) ?? []) {
        if (/location \/ \{ return 301 https:/.test(block) || /^\s*return 421;/m.test(block.split(/\n\s*\}/)[0])) continue;
        const serverName = /server_name ([^;]+);/.exec(block)?.[1];
        if (!serverName) continue;
        sites.push({ stack, serverName, listen: /listen ([^;]+);/.exec(block)?.[1] ?? '?', upstream: /set \$socle_upstream http:\/\/([^;]+);/.exec(block)?.[1], csp: /add_header Content-Security-Policy "([^"]*)"/.exec(block)?.[1] });
      }
    }
    for (const f of stackFlows) {
      const { owner, ownedByCity } = f.to === 'any' ? { owner: 'Internet (relais du réseau Tor)', ownedByCity: false } : ownerOf(city, f.to);
      flows.push({ from: host.name, network: f.network, to: f.to, port: f.port ?? undefined, protocol: f.protocol, reason: f.reason, owner, ownedByCity });
    }
    const reportFile = join(outdir, `policy-report.${stack}.json`);
    if (existsSync(reportFile)) {
      for (const r of readJson<any[]>(reportFile)) {
        if (r.status === 'compliant') continue;
        policy.push({ ruleId: r.ruleId, level: r.level, stack, path: r.path, status: r.status, reason: r.reason });
      }
    }
    // Every host's engine pulls its images from the registry (HTTPS unless the city file names a port).
    const [registryHost, registryPort] = city.registry.host.split(':');
    const registry = ownerOf(city, registryHost === 'localhost' ? '127.0.0.1' : registryHost, 'registry');
    flows.push({ from: host.name, to: registryHost, port: Number(registryPort ?? 443), protocol: 'tcp', reason: 'the Docker engine pulls the images from the city registry', ...registry });
  }

  for (const t of backup.enabled ? backup.targets : []) {
    const { owner } = ownerOf(city, t.host, 'backup-storage');
    stores.push({
      id: `restic:${t.name}`, kind: 'backup-repository', service: 'backup', host: t.host, site: t.site, owner,
      category: 'personal', personal: true, retention: `restic : ${backup.retention.daily} instantanés quotidiens, ${backup.retention.weekly} hebdomadaires, ${backup.retention.monthly} mensuels`,
      enforcedBy: 'restic forget --prune, une fois par jour, par le conteneur de sauvegarde', backedUpTo: [],
    });
  }
  const relay = ownerOf(city, city.mail.relay.host, 'mail-relay');
  const relayAddress = ownerOf(city, city.mail.relay.address, 'mail-relay');
  const s = city.services;
  const publicNames = (['consultation', 'limesurvey', 'matomo'] as const).filter((n) => s[n].enabled).map((n) => ({ hostname: s[n].hostname, service: n }));
  return {
    file: city.file, slug, name: city.commune.name, legalEntity: city.commune.legalEntity,
    address: `${city.commune.address.street}, ${city.commune.address.postcode} ${city.commune.address.city}`,
    phone: city.commune.phone, email: city.commune.email, publicationDirector: city.commune.publicationDirector,
    dpo: { name: city.commune.dpo.name, email: city.commune.dpo.email }, owns: city.commune.owns,
    registry: `${city.registry.host}/${city.registry.namespace}`, hosts, publicNames, onion: s.onion.enabled,
    mailRelay: { host: city.mail.relay.host, address: city.mail.relay.address, ownedByCity: relay.ownedByCity && relayAddress.ownedByCity, owner: relay.ownedByCity ? relayAddress.owner : relay.owner },
    stores, flows, containers, images, policy, legalNotices, registers, sites, trackerScript, cookieNotices,
    externalParties: city.externalParties.map((p) => ({ name: p.name, role: p.role, reason: p.reason })),
  };
}
