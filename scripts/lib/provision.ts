// The steps of npm run provision, as data: what each one runs (printed by --dry-run, run otherwise),
// and the pure judgements it makes of what the hosts answer. scripts/provision.ts runs them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PUBLIC_SERVICES } from '../../stacks/config/defaults.js';
import type { CityConfig, HostConfig, HostingConfig } from '../../stacks/config/types.js';

/** Socle's checkout: the steps' npm commands run there. */
export const SOCLE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const PLAYBOOK = `${SOCLE_ROOT}/ansible/site.yml`;
/** The deploy's own default output (its --out), in Socle's checkout. */
export const DEFAULT_OUTDIR = `${SOCLE_ROOT}/cdktf.out`;

/** The steps in order; --from takes one of these ids. */
export const PROVISION_STEPS = ['validate', 'facts', 'hosts', 'images', 'plan', 'apply', 'smoke', 'audit'] as const;
export type ProvisionStepId = (typeof PROVISION_STEPS)[number];

export const STEP_TITLES: Readonly<Record<ProvisionStepId, string>> = {
  validate: 'validate the city file',
  facts: 'reach each host over SSH and read its facts (Debian version, disk, memory, time sync)',
  hosts: 'prepare each host with Ansible (ansible/site.yml): admins, SSH, time, journal, updates, CA, firewall, Docker, backup stores',
  images: 'build every image the stacks reference and push it to the city registry',
  plan: 'synthesize and plan each host\'s stack (tofu init/plan), reporting drift',
  apply: 'apply each host\'s plan (tofu apply), once confirmed',
  smoke: 'every container healthy, HTTPS answering on every public name, a backup run recorded',
  audit: 'the static audit of the city file',
};

/** What provisioning needs of a fresh host before anything is installed on it. */
const HOST_MINIMUMS = { debianMajor: 12, freeDiskGiB: 10, memoryMiB: 2048 } as const;

/** The one remote command that reads a host's facts: a line per fact, `name=value`. */
const FACTS_SCRIPT = [
  'echo "debian=$(cat /etc/debian_version 2>/dev/null)"',
  'echo "disk_kib=$(df -Pk /var/lib | awk \'NR==2 {print $4}\')"',
  'echo "memory_kib=$(awk \'/^MemTotal:/ {print $2}\' /proc/meminfo)"',
  'echo "ntp=$(timedatectl show --property=NTPSynchronized --value 2>/dev/null)"',
  'echo "container=$(systemd-detect-virt --container 2>/dev/null)"',
].join('; ');

/** On the front host, with tls.mode files: are the city's certificate and key in place ($1)? */
const TLS_FACT = 'echo "tls=$(sudo -n test -s "$1/fullchain.pem" && sudo -n test -s "$1/privkey.pem" && echo yes || echo no)"';

export interface HostFacts {
  readonly debian: string;
  readonly freeDiskGiB: number;
  readonly memoryMiB: number;
  readonly timeSynchronized: boolean;
  /** The container technology the host runs in (lxc, docker...), or '' on a machine of its own. */
  readonly container: string;
  /** On the front host with tls.mode files: whether the certificate and key are there. */
  readonly tls?: boolean;
}

/** Reads FACTS_SCRIPT's output. */
export function parseFacts(output: string): HostFacts {
  const value = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(output)?.[1]?.trim() ?? '';
  return {
    debian: value('debian'),
    freeDiskGiB: Math.floor((Number(value('disk_kib')) || 0) / 1048576),
    memoryMiB: Math.floor((Number(value('memory_kib')) || 0) / 1024),
    timeSynchronized: value('ntp') === 'yes',
    container: value('container') === 'none' ? '' : value('container'),
    ...(value('tls') ? { tls: value('tls') === 'yes' } : {}),
  };
}

/** What stops provisioning on a host, each with its fix; empty when the host is fit. */
export function hostProblems(host: string, facts: HostFacts, tlsDirectory?: string): string[] {
  const problems: string[] = [];
  const major = Number(/^(\d+)/.exec(facts.debian)?.[1]);
  if (!major) problems.push(`${host}: not a Debian host (/etc/debian_version is "${facts.debian}"): install Debian ${HOST_MINIMUMS.debianMajor} or later`);
  else if (major < HOST_MINIMUMS.debianMajor) problems.push(`${host}: Debian ${facts.debian}, Socle needs ${HOST_MINIMUMS.debianMajor} or later: upgrade the host first`);
  if (facts.freeDiskGiB < HOST_MINIMUMS.freeDiskGiB) problems.push(`${host}: ${facts.freeDiskGiB} GiB free under /var/lib, at least ${HOST_MINIMUMS.freeDiskGiB} needed (images and volumes live there): grow the disk`);
  if (facts.memoryMiB < HOST_MINIMUMS.memoryMiB) problems.push(`${host}: ${facts.memoryMiB} MiB of memory, at least ${HOST_MINIMUMS.memoryMiB} needed`);
  if (facts.tls === false) problems.push(`${host}: no certificate in ${tlsDirectory} (fullchain.pem and privkey.pem, tls.files.directory): the proxy cannot serve HTTPS without it; put the city's certificate and key there (the key readable by www-data only)`);
  // A container keeps the clock of the machine it runs on: that machine's synchronization is what counts.
  if (!facts.timeSynchronized && !facts.container) problems.push(`${host}: the clock is not synchronized (timedatectl: NTPSynchronized=no): TLS, backups and logs need the right time; point it at the city's NTP server`);
  return problems;
}

/** A flow a host's containers use, as synth writes it for the host firewall (ansible-vars.json). */
export interface SynthFlow { readonly to: string; readonly port: number | null; readonly protocol: string; readonly reason: string }
/** What npm run synth wrote for one host's stack: the role docker_host's egress variables. */
export interface StackFirewallVars { readonly docker_host__egress_communes: ReadonlyArray<{ readonly flows: readonly SynthFlow[] }> }

/** A machine Ansible prepares: a city host (Docker) or a storage host of a backup target. */
interface Machine { readonly name: string; readonly address: string; readonly port: number; readonly privateAddress: string; readonly knownHosts?: string }

/** The storage hosts npm run provision prepares (backup targets with prepare: true). */
export function storageHosts(city: CityConfig): Machine[] {
  return city.services.backup.targets.filter((t) => t.prepare).map((t) => ({ name: t.name, address: t.host, port: t.port, privateAddress: t.host, knownHosts: t.knownHosts }));
}

const urlHostPort = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
};

/**
 * What every machine may send itself (the role host_firewall's outbound allow-list): the city's
 * resolvers and time servers, the Debian mirrors, and for Docker hosts the registry.
 */
function outboundOf(city: CityConfig, hosting: HostingConfig, docker: boolean): Array<{ to: string; port: number; protocol: string; reason: string }> {
  const registry = /^(.*?)(?::(\d+))?$/.exec(city.registry.host)!;
  return [
    ...hosting.dns.flatMap((to) => ['udp', 'tcp'].map((protocol) => ({ to, port: 53, protocol, reason: 'DNS resolver of the city (hosting.dns)' }))),
    ...hosting.ntp.map((to) => ({ to, port: 123, protocol: 'udp', reason: 'time server of the city (hosting.ntp)' })),
    ...[...new Map([hosting.debianMirror, hosting.debianSecurityMirror].map((u) => [JSON.stringify(urlHostPort(u)), urlHostPort(u)])).values()]
      .map(({ host, port }) => ({ to: host, port, protocol: 'tcp', reason: 'Debian mirror (hosting.debianMirror, hosting.debianSecurityMirror)' })),
    ...(docker ? [{ to: registry[1], port: Number(registry[2] ?? 443), protocol: 'tcp', reason: 'the city registry the images come from (registry.host)' }] : []),
  ];
}

/**
 * The Ansible inventory of a city file, with every role's variables: the administrators, the
 * firewall's allow-lists (what synth says each host's containers reach becomes what the host they
 * reach accepts from them), the deploying user, the backup stores. `firewall` is what synth wrote
 * per host (ansible-vars.json); `backupPublicKey` the runners' key the stores accept.
 */
export function inventoryFor(city: CityConfig, firewall: ReadonlyMap<string, StackFirewallVars>, options: { only?: string; backupPublicKey?: string } = {}): string {
  const hosting = city.hosting;
  if (!hosting) throw new Error(`${city.file}: no hosting section`);
  const docker: Machine[] = city.hosts.map((h) => ({ name: h.name, address: h.ssh.address, port: h.ssh.port, privateAddress: h.privateAddress, knownHosts: h.ssh.knownHosts }));
  const storage = storageHosts(city);
  const all = [...docker, ...storage];
  const byAddress = new Map(all.map((m) => [m.privateAddress, m.name]));
  // Each flow from one machine's containers to another machine is accepted there, from that machine only.
  const inbound = new Map<string, Array<{ from: string; port: number; protocol: string; reason: string }>>(all.map((m) => [m.name, []]));
  for (const m of docker) {
    for (const f of firewall.get(m.name)?.docker_host__egress_communes.flatMap((c) => c.flows) ?? []) {
      const target = byAddress.get(f.to);
      if (target && target !== m.name && f.port !== null) inbound.get(target)!.push({ from: m.privateAddress, port: f.port, protocol: f.protocol, reason: `from ${m.name}: ${f.reason}` });
    }
  }
  const proxy = city.services.proxy;
  for (const port of [proxy.httpPort, proxy.httpsPort]) inbound.get(proxy.host)!.push({ from: '0.0.0.0/0', port, protocol: 'tcp', reason: `citizens: the reverse proxy (services.proxy.${port === proxy.httpPort ? 'httpPort' : 'httpsPort'})` });
  // The deploying user accepts the key the deploy logs in with on that host (its .pub beside it), else the first administrator's.
  const deployKeys = (h: HostConfig) => (h.ssh.identityFile && existsSync(`${h.ssh.identityFile}.pub`) ? [readFileSync(`${h.ssh.identityFile}.pub`, 'utf8').trim()] : hosting.admins[0].keys);
  const common = (m: Machine, isDocker: boolean) => ({
    ansible_host: m.address, ansible_port: m.port, ansible_user: hosting.admins[0].name,
    ...(hosting.identityFile ? { ansible_ssh_private_key_file: hosting.identityFile } : {}),
    ...(m.knownHosts ? { ansible_ssh_common_args: `-o UserKnownHostsFile=${m.knownHosts} -o StrictHostKeyChecking=yes` } : {}),
    base_host__admins: hosting.admins, base_host__ntp_servers: hosting.ntp, base_host__journal_max_days: hosting.journalDays,
    base_host__apt_mirror: hosting.debianMirror, base_host__apt_security_mirror: hosting.debianSecurityMirror,
    city_ca__certificate_file: hosting.ca ?? '', city_ca__docker_registries: hosting.ca && isDocker ? [city.registry.host] : [],
    host_firewall__admin_networks: hosting.adminNetworks, host_firewall__ssh_port: m.port,
    host_firewall__inbound: inbound.get(m.name)!, host_firewall__outbound: outboundOf(city, hosting, isDocker),
  });
  const wanted = (m: { readonly name: string }) => !options.only || m.name === options.only;
  const hostEntries = Object.fromEntries(city.hosts.filter(wanted).map((h) => [h.name, {
    ...common(docker.find((m) => m.name === h.name)!, true),
    docker_host__deploy_user: h.ssh.user, docker_host__deploy_authorized_keys: deployKeys(h),
    ...(tlsDirectoryOf(city) ? { docker_host__tls_directory: tlsDirectoryOf(city) } : {}),
    docker_host__egress_communes: firewall.get(h.name)?.docker_host__egress_communes ?? [],
  }]));
  const storageEntries = Object.fromEntries(storage.filter(wanted).map((m) => {
    const t = city.services.backup.targets.find((x) => x.name === m.name)!;
    return [m.name, { ...common(m, false), backup_storage__repositories: [{ user: t.user, path: t.path, authorized_keys: options.backupPublicKey ? [options.backupPublicKey.trim()] : [] }] }];
  }));
  // JSON is YAML: every value is written exactly, quoting included.
  return [
    `# Generated by npm run provision from ${city.file}: do not edit, edit the city file.`,
    JSON.stringify({ socle_hosts: { hosts: hostEntries }, socle_backup_storage: { hosts: storageEntries } }, null, 2), '',
  ].join('\n');
}

/** A command of a step: what --dry-run prints, and what the step runs. */
export interface StepCommand {
  readonly program: string;
  readonly args: readonly string[];
  /** Runs on this machine over SSH rather than here: as the first administrator, or as the deploying user. */
  readonly host?: { readonly name: string; readonly as: 'admin' | 'deploy' };
  /** For `docker ps`: ask again until every container has started (no healthcheck still starting), or is healthy. */
  readonly waitFor?: 'started' | 'healthy';
}

export interface ProvisionPlan {
  readonly city: CityConfig;
  /** The city file, absolute: the steps run from Socle's checkout. */
  readonly cityFile: string;
  readonly hosts: readonly HostConfig[];
  /** Where the generated inventory is written. */
  readonly inventory: string;
  /** Where the audit writes its report. */
  readonly auditOut: string;
  /** The backup runners' private key (FILE.pub beside it), when the city backs up. */
  readonly backupKey?: string;
  /** Where the deploy synthesizes (its --out): the stacks, their OpenTofu working directories. */
  readonly outdir: string;
  /** What the synthesized stacks need: see readSynthesized. */
  readonly synthesized: SynthesizedNeeds;
}

/** What a city's synthesized stacks need of the hosts and of the registry. */
export interface SynthesizedNeeds {
  /** Per host: what its containers reach (the role docker_host's variables). */
  readonly firewall: ReadonlyMap<string, StackFirewallVars>;
  /** Catalog keys of the images Socle builds that the stacks reference. */
  readonly builtImages: readonly string[];
  /** Every other image the stacks reference (mirrored by digest, or packaged by the city): only checked. */
  readonly otherImages: readonly string[];
}

/** Reads a synthesis of the city (cdktf.out in `outdir`) for what provisioning needs. */
export function readSynthesized(outdir: string, city: CityConfig, buildable: readonly string[]): SynthesizedNeeds {
  const firewall = new Map<string, StackFirewallVars>();
  const images = new Map<string, string>();
  for (const h of city.hosts) {
    const dir = join(outdir, 'stacks', `${city.commune.slug}-${h.name}`);
    firewall.set(h.name, JSON.parse(readFileSync(join(dir, 'ansible-vars.json'), 'utf8')) as StackFirewallVars);
    const stack = JSON.parse(readFileSync(join(dir, 'cdk.tf.json'), 'utf8'));
    for (const [id, image] of Object.entries<{ name: string }>(stack.resource?.docker_image ?? {})) images.set(image.name, id.replace(/^image-/, ''));
  }
  const builtImages = [...new Set([...images.values()].filter((k) => buildable.includes(k)))].sort();
  const otherImages = [...images].filter(([, k]) => !buildable.includes(k)).map(([name]) => name).sort();
  return { firewall, builtImages, otherImages };
}

const npm = (script: string, ...args: string[]): StepCommand => ({ program: 'npm', args: ['run', '--silent', script, '--', ...args] });

/** Every machine a step reaches over SSH: the city's hosts, then the storage hosts it prepares. */
export function machinesOf(plan: ProvisionPlan, only?: string): Array<{ name: string; ssh: HostConfig['ssh'] }> {
  const { city } = plan;
  const hosts = plan.hosts.map((h) => ({ name: h.name, ssh: h.ssh }));
  const storage = storageHosts(city).filter((m) => !only || m.name === only).map((m) => ({ name: m.name, ssh: { user: city.hosts[0].ssh.user, address: m.address, port: m.port, knownHosts: m.knownHosts } }));
  return [...hosts, ...storage];
}

/** How a machine is reached as `as`: the first administrator prepares hosts, the deploying user runs Docker. */
export function sshAs(city: CityConfig, ssh: HostConfig['ssh'], as: 'admin' | 'deploy'): HostConfig['ssh'] {
  if (as === 'deploy' || !city.hosting) return ssh;
  return { ...ssh, user: city.hosting.admins[0].name, identityFile: city.hosting.identityFile ?? ssh.identityFile };
}

/** Where the front host keeps the city's certificate, when the city brings its own (tls.mode files). */
export function tlsDirectoryOf(city: CityConfig): string | undefined {
  return city.tls.mode === 'files' ? city.tls.files!.directory : undefined;
}

/** The address and port citizens reach the reverse proxy at, from this machine. */
function proxyAddress(city: CityConfig): string {
  const proxy = city.services.proxy;
  const front = city.hosts.find((h) => h.name === proxy.host)!;
  return proxy.bindAddress && proxy.bindAddress !== '0.0.0.0' ? proxy.bindAddress : front.privateAddress;
}

/** Every public name the proxy serves. */
function publicNames(city: CityConfig): string[] {
  return PUBLIC_SERVICES.map((name) => city.services[name]).filter((s) => s.enabled).map((s) => s.hostname);
}

/** Every command of a step, for one city, in the order it runs them. */
export function stepCommands(step: ProvisionStepId, plan: ProvisionPlan, only?: string): StepCommand[] {
  const { city, hosts, cityFile } = plan;
  const stacks = hosts.flatMap((h) => ['--stack', `${city.commune.slug}-${h.name}`]);
  const key = [...(plan.backupKey ? ['--backup-key', plan.backupKey] : []), ...(plan.outdir === DEFAULT_OUTDIR ? [] : ['--out', plan.outdir])];
  switch (step) {
    case 'validate': return [];
    case 'facts': return machinesOf(plan, only).map((m) => {
      const tls = m.name === city.services.proxy.host ? tlsDirectoryOf(city) : undefined;
      return { program: 'sh', args: ['-c', tls ? `${FACTS_SCRIPT}; ${TLS_FACT}` : FACTS_SCRIPT, ...(tls ? ['facts', tls] : [])], host: { name: m.name, as: 'admin' } };
    });
    case 'hosts': return [{ program: 'ansible-playbook', args: ['-i', plan.inventory, PLAYBOOK, ...(only ? ['--limit', only] : [])] }];
    case 'images': {
      const built = plan.synthesized.builtImages.filter((k) => k !== 'base');
      return [
        ...(built.length ? [npm('build-images', '--config', cityFile, '--push', ...built.flatMap((k) => ['--only', k]))] : []),
        ...plan.synthesized.otherImages.map((ref) => ({ program: 'docker', args: ['manifest', 'inspect', ref] })),
      ];
    }
    case 'plan': return [npm('deploy', '--config', cityFile, ...stacks, ...key)];
    case 'apply': return [npm('deploy', '--config', cityFile, ...stacks, ...key, '--apply')];
    case 'smoke': {
      const port = city.services.proxy.httpsPort;
      const ca = city.hosting?.ca ? ['--cacert', city.hosting.ca] : [];
      const ps = (waitFor: 'started' | 'healthy') => hosts.map((h) => ({ program: 'docker', args: ['ps', '--all', '--filter', `label=fr.socle.commune=${city.commune.slug}`, '--format', '{{.Names}}\t{{.Status}}'], host: { name: h.name, as: 'deploy' as const }, waitFor }));
      // Containers started first (the backup dumps their databases); healthy last: the backup
      // runner is healthy once a run has backed everything up.
      return [
        ...ps('started'),
        ...(hosts.some((h) => h.name === city.services.proxy.host) ? publicNames(city).map((name) => ({
          program: 'curl', args: ['--silent', '--show-error', '--output', '/dev/null', '--write-out', '%{http_code}', '--max-time', '20', '--noproxy', '*', '--resolve', `${name}:${port}:${proxyAddress(city)}`, ...ca, `https://${name}${port === 443 ? '' : `:${port}`}/`],
        })) : []),
        ...(city.services.backup.enabled ? [npm('backup', 'run', '--config', cityFile), npm('backup', 'status', '--config', cityFile)] : []),
        ...ps('healthy'),
      ];
    }
    case 'audit': return [npm('audit', '--config', cityFile, '--out', plan.auditOut)];
  }
}

/** Containers of `docker ps` output still starting: not running yet, or their first healthcheck pending. */
export function startingContainers(psOutput: string): string[] {
  return psOutput.split('\n').filter((l) => l.trim()).filter((l) => {
    const status = l.split('\t')[1] ?? '';
    return /^(Created|Restarting)/.test(status) || /\(health: starting\)/.test(status);
  });
}

/** Containers of `docker ps` output that are not running healthy (or running, for those without a healthcheck). */
export function unhealthyContainers(psOutput: string): string[] {
  return psOutput.split('\n').filter((l) => l.trim()).filter((l) => {
    const status = l.split('\t')[1] ?? '';
    return !/^Up /.test(status) || /\((unhealthy|health: starting)\)/.test(status);
  });
}

/** A command as a sysadmin would type it. */
export function shownCommand(c: StepCommand, plan: ProvisionPlan): string {
  const quoted = [c.program, ...c.args].map((a) => (/^[\w./=:@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  if (!c.host) return quoted;
  const m = machinesOf(plan).find((x) => x.name === c.host!.name)!;
  const ssh = sshAs(plan.city, m.ssh, c.host.as);
  return `ssh -p ${ssh.port} ${ssh.user}@${ssh.address} ${quoted}`;
}

/** A deploy plan line that changes nothing (scripts/lib/deploy.ts, summarize). */
export function isEmptyPlan(summary: string): boolean {
  return summary.startsWith('no changes');
}

/** The `plan:` line deploy printed for each stack, by stack name. */
export function planSummaries(deployOutput: string): Map<string, string> {
  const found = new Map<string, string>();
  let stack: string | undefined;
  for (const line of deployOutput.split('\n')) {
    const header = /\[\d+\/\d+\] (\S+) \(/.exec(line);
    if (header) stack = header[1];
    const plan = /^\s*(?:deploy: )?\s*plan: (.*)$/.exec(line);
    if (plan && stack) found.set(stack, plan[1]);
  }
  return found;
}

/**
 * Drift: a stack whose synthesized configuration is the one last applied, yet whose plan changes
 * something. Nobody asked for a change (the city file gives the same stack): the host was changed
 * by hand. `applied` is the digest recorded at the last apply, `now` the current one.
 */
export function driftOf(stack: string, summary: string | undefined, applied: string | undefined, now: string): string | undefined {
  if (!summary || isEmptyPlan(summary) || applied !== now) return undefined;
  return `${stack}: DRIFT: the city file asks for nothing new since the last provision, yet the plan says ${summary}: something was changed on the host by hand; applying puts it back as the city file says`;
}
