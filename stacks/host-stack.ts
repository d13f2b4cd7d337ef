import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { LocalBackend, TerraformStack, TerraformVariable } from 'cdktf';
import { join, resolve } from 'node:path';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { RandomProvider } from '@cdktf/provider-random/lib/provider/index.js';
import { Password } from '@cdktf/provider-random/lib/password/index.js';
import { Id } from '@cdktf/provider-random/lib/id/index.js';
import type { CityConfig, HostConfig } from './config/types.js';
import { imageReference } from '../services/common/images.js';
import {
  Platform, type ContainerSpec, type EgressFlow, type IContainer, type INetwork, type IPlatform, type IVolume, type ProcessingActivity,
  type NetworkProps, type SecretOptions, type VolumeProps,
} from '../services/common/platform.js';

import { LABEL } from '../core/labels.js';
import { PROVIDER_PINS } from './deploy-tools.js';
import { sshOptions, sshUrl } from './ssh.js';

export { LABEL };

/** Where generated files land in a read-only container: a tmpfs filled by socle-files at start. */
export const CONFIG_DIR = '/etc/socle';

/** Hardening every container gets; a spec can only narrow it (e.g. add one capability). */
export const CONTAINER_DEFAULTS = {
  restart: 'unless-stopped',
  logMaxSize: '10m',
  logMaxFiles: '3',
  securityOpts: ['no-new-privileges:true'],
  /**
   * RLIMIT_NPROC, the process (and thread) limit. The Docker provider has no pids_limit (a cgroup
   * limit per container), so this is the ceiling: the kernel counts it per user across the host,
   * which still keeps one fork bomb from taking the host's process table.
   */
  maxProcesses: 4096,
} as const;

/**
 * Seconds as Go prints a duration (`60` → `1m0s`): the provider reads healthcheck durations back
 * that way, so any other spelling is a change at every plan.
 */
function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

/**
 * The "external" resolver of containers that resolve the stack's names only: an address of the
 * loopback range where nothing listens (not 127.0.0.1, where a host may run a caching resolver that
 * forwards out), so Docker's embedded DNS fails other names instead of forwarding them. Docker
 * 20.10 from Debian lacks the fix for CVE-2024-29018 (forwarding from internal networks through a
 * loopback resolver of the host): this closes it for every container but those that must resolve
 * outside names.
 */
const NO_EXTERNAL_RESOLVER = '127.255.255.254';

/**
 * Seconds between two healthchecks. After a crash the process is back in a second, but Docker
 * reports it healthy only at the next check: 10 s keeps recovery visible within 15 s. Every check
 * Socle declares is one local request, a file test or a ping, so six a minute cost nothing.
 */
export const HEALTHCHECK_INTERVAL_SEC = 10;

/** Docker resources take labels as a list of { label, value }. */
function labelList(labels: Record<string, string>): Array<{ label: string; value: string }> {
  return Object.entries(labels).map(([label, value]) => ({ label, value }));
}

const hex = (text: string, n: number) => createHash('sha256').update(text).digest('hex').slice(0, n);

/**
 * Every bridge of a commune starts with `sc` and 4 hex digits of its slug: the host firewall drops
 * what leaves any bridge of that prefix unless a flow allows it, so a network added later is closed
 * too, before the rules are rendered again. 12 characters (Linux allows 15).
 */
export function bridgePrefix(commune: string): string {
  return `sc${hex(commune, 4)}`;
}

/** One allowed flow out of the host, as the firewall template takes it. */
export interface EgressRule extends EgressFlow {
  readonly network: string;
  readonly bridge: string;
}

export interface HostStackProps {
  readonly city: CityConfig;
  readonly host: HostConfig;
}

/**
 * One Terraform stack per city host: its own Docker provider (`ssh://user@host:port`), planned and
 * applied on its own. It is the platform the services of this host declare against.
 */
export class HostStack extends TerraformStack implements IPlatform {
  public readonly city: CityConfig;
  public readonly host: HostConfig;
  public readonly communeSlug: string;
  private readonly images = new Map<string, Image>();
  private readonly networks = new Map<string, INetwork>();
  private readonly variables = new Map<string, TerraformVariable>();
  private readonly declaredVolumes: IVolume[] = [];
  private readonly declaredProcessing: ProcessingActivity[] = [];
  private readonly egressRules: EgressRule[] = [];
  /** Engine names of the networks by bridge (INetwork.name is a reference in the output). */
  private readonly networkNames = new Map<string, string>();
  private randomProvider?: RandomProvider;

  constructor(scope: Construct, id: string, props: HostStackProps) {
    super(scope, id);
    this.city = props.city;
    this.host = props.host;
    this.communeSlug = props.city.commune.slug;
    const registry = props.city.registry;
    new DockerProvider(this, 'docker', {
      host: sshUrl(props.host.ssh),
      sshOpts: sshOptions(props.host.ssh),
      registryAuth: registry.username
        ? [{ address: registry.host, username: registry.username, password: this.secretVariable('registry_password', `Password of ${registry.username} on ${registry.host}`) }]
        : undefined,
    });
    Platform.register(this, this);
    // The state holds every generated password: it lives where the city file says (city storage),
    // and the deploy encrypts it (OpenTofu state encryption, key from state.passphrase).
    new LocalBackend(this, { path: join(resolve(props.city.state.directory ?? '.'), `terraform.${id}.tfstate`) });
    // The providers the mirror holds, exactly (see stacks/deploy-tools.ts for why not the bindings').
    for (const pin of PROVIDER_PINS) this.addOverride(`terraform.required_providers.${pin.name}.version`, pin.version);
  }

  public get volumes(): readonly IVolume[] {
    return this.declaredVolumes;
  }

  public declareProcessing(activity: ProcessingActivity): void {
    this.declaredProcessing.push(activity);
  }

  public get processing(): readonly ProcessingActivity[] {
    return this.declaredProcessing;
  }

  /** What containers of this host may reach outside it; the firewall drops the rest. */
  public get egress(): readonly EgressRule[] {
    return this.egressRules;
  }

  public allowEgress(network: INetwork, flow: EgressFlow): void {
    if (network.internal) throw new Error(`${this.node.id}: ${network.name} is internal and has no route out; an egress flow (${flow.reason}) needs an egress-tier network`);
    if (flow.to !== 'any' && flow.port === undefined) throw new Error(`${this.node.id}: egress flow to ${flow.to} (${flow.reason}) needs a port; only 'any' may open every port`);
    const rule = { network: this.networkNames.get(network.bridge) ?? network.bridge, bridge: network.bridge, protocol: 'tcp' as const, ...flow };
    if (!this.egressRules.some((r) => JSON.stringify(r) === JSON.stringify(rule))) this.egressRules.push(rule);
  }

  /** The bridge of every network of this stack (the host firewall lets each talk to itself only). */
  public get bridges(): string[] {
    return [...this.networkNames.keys()].sort();
  }

  public qualify(...parts: string[]): string {
    return [this.communeSlug, ...parts].join('-');
  }

  public network(scope: Construct, props: NetworkProps): INetwork {
    const existing = this.networks.get(props.name);
    if (existing) return existing;
    const internal = props.internal ?? props.tier !== 'egress';
    const bridge = `${bridgePrefix(this.communeSlug)}${hex(this.qualify(props.name), 6)}`;
    const net = new Network(this, `network-${props.name}`, {
      name: this.qualify(props.name),
      driver: 'bridge',
      internal,
      options: { 'com.docker.network.bridge.name': bridge },
      labels: labelList(this.labels({ [LABEL.tier]: props.tier })),
    });
    const handle = { name: net.name, internal, bridge };
    this.networkNames.set(bridge, this.qualify(props.name));
    this.networks.set(props.name, handle);
    return handle;
  }

  public volume(scope: Construct, props: VolumeProps): IVolume {
    const keep = props.preventDestroy ?? (props.category === 'personal' || props.category === 'secret');
    const backup = props.backup ?? props.category !== 'cache';
    const vol = new Volume(scope, `volume-${props.name}`, {
      name: this.qualify(props.name),
      labels: labelList(this.labels({
        [LABEL.service]: props.service,
        [LABEL.dataCategory]: props.category,
        [LABEL.personalData]: String(props.category === 'personal'),
        [LABEL.retention]: props.retention,
        ...(props.retentionEnforcedBy ? { [LABEL.retentionEnforcedBy]: props.retentionEnforcedBy } : {}),
        [LABEL.backup]: String(backup),
        ...(props.dumped ? { [LABEL.backupDump]: 'true' } : {}),
      })),
      // Docker cannot change a volume's labels, so the provider replaces the volume when they
      // change: a reworded retention must never cost a volume of personal data. Labels are
      // written when the volume is created; the synthesized stack says what they are now.
      lifecycle: { preventDestroy: keep, ignoreChanges: ['labels'] },
    });
    const handle: IVolume = { name: vol.name, props: { ...props, backup, preventDestroy: keep } };
    this.declaredVolumes.push(handle);
    return handle;
  }

  public container(scope: Construct, id: string, spec: ContainerSpec): IContainer {
    const containerName = this.qualify(spec.service, spec.role);
    const hc = spec.healthcheck;
    const readOnly = spec.readOnlyRootfs ?? true;
    const env: Record<string, string> = { ...(spec.env ?? {}) };
    const tmpfs: Record<string, number> = { ...(spec.tmpfs ?? {}) };
    let uploads = spec.uploads;
    if (readOnly && uploads?.length) {
      // The provider copies uploads to "/", which Docker refuses for a read-only root. Generated
      // files travel in the environment instead; socle-files (in every Socle image) writes them to
      // a tmpfs at /etc/socle before starting the program.
      const misplaced = uploads.filter((u) => !u.path.startsWith(`${CONFIG_DIR}/`)).map((u) => u.path);
      if (misplaced.length) {
        throw new Error(`${containerName}: generated files of a read-only container must be under ${CONFIG_DIR}/, got ${misplaced.join(', ')}; move them (and point the software there)`);
      }
      uploads.forEach((u, i) => {
        env[`SOCLE_FILE_${i}_PATH`] = u.path;
        env[`SOCLE_FILE_${i}`] = u.content;
        if (u.executable) env[`SOCLE_FILE_${i}_MODE`] = '0755';
      });
      tmpfs[CONFIG_DIR] = 1;
      uploads = undefined;
    }
    const resource = new Container(scope, id, {
      name: containerName,
      image: this.image(spec.image).imageId,
      command: spec.command ? [...spec.command] : undefined,
      entrypoint: spec.entrypoint ? [...spec.entrypoint] : undefined,
      env: Object.keys(env).length ? Object.entries(env).map(([k, v]) => `${k}=${v}`) : undefined,
      hostname: spec.domain ? `${spec.service}-${spec.role}.${spec.domain}` : `${spec.service}-${spec.role}`,
      networkMode: spec.networkMode,
      networksAdvanced: spec.networks?.map((n) => ({ name: n.network.name, aliases: n.aliases ? [...n.aliases] : undefined })),
      volumes: spec.volumes?.map((v) => ({ volumeName: v.volume.name, containerPath: v.path, readOnly: v.readOnly ?? false })),
      mounts: spec.hostMounts?.map((m) => ({ type: 'bind', source: m.hostPath, target: m.path, readOnly: true })),
      // No mode= option: Docker 20.10 (Debian bookworm) forgets it when it restarts a container.
      // A tmpfs takes the mode (not the owner) of the image's directory instead, so images create
      // every scratch directory they declare with mode 1777 (services/*/Dockerfile).
      tmpfs: Object.keys(tmpfs).length ? Object.fromEntries(Object.entries(tmpfs).map(([path, mib]) => [path, `rw,noexec,nosuid,size=${mib}m`])) : undefined,
      healthcheck: {
        test: [...hc.test],
        interval: goDuration(hc.intervalSec ?? HEALTHCHECK_INTERVAL_SEC),
        timeout: goDuration(hc.timeoutSec ?? 5),
        retries: hc.retries ?? 3,
        startPeriod: goDuration(hc.startPeriodSec ?? 30),
      },
      memory: spec.memoryMiB,
      memorySwap: spec.memoryMiB,
      user: spec.user,
      readOnly,
      // Docker reads capabilities back as CAP_*: written the same way, a plan shows no change.
      capabilities: { drop: ['ALL'], add: spec.capAdd?.length ? spec.capAdd.map((c) => (c.startsWith('CAP_') ? c : `CAP_${c}`)) : undefined },
      securityOpts: [...CONTAINER_DEFAULTS.securityOpts],
      restart: CONTAINER_DEFAULTS.restart,
      init: true,
      mustRun: true,
      logDriver: 'json-file',
      logOpts: { 'max-size': CONTAINER_DEFAULTS.logMaxSize, 'max-file': CONTAINER_DEFAULTS.logMaxFiles },
      ports: spec.ports?.map((p) => ({ internal: p.internal, external: p.external, ip: p.ip, protocol: 'tcp' })),
      host: spec.extraHosts?.map((h) => ({ host: h.host, ip: h.ip })),
      ulimit: [{ name: 'nproc', soft: spec.maxProcesses ?? CONTAINER_DEFAULTS.maxProcesses, hard: spec.maxProcesses ?? CONTAINER_DEFAULTS.maxProcesses }],
      dns: spec.resolvesExternalNames ? undefined : [NO_EXTERNAL_RESOLVER],
      // Docker's DNS waits seconds for that resolver before failing a name: the C library gives up
      // after one second instead, so a stopped peer's name fails fast (a backup, a proxy route).
      dnsOpts: spec.resolvesExternalNames ? undefined : ['timeout:1', 'attempts:1'],
      sysctls: spec.bindsLowPorts ? { 'net.ipv4.ip_unprivileged_port_start': '0' } : undefined,
      upload: uploads?.map((u) => ({ file: u.path, content: u.content, executable: u.executable ?? false })),
      labels: labelList(this.labels({ [LABEL.service]: spec.service, [LABEL.role]: spec.role, ...(spec.upgradeGate ? { [LABEL.upgradeGate]: spec.upgradeGate } : {}) })),
    });
    return { spec, containerName, construct: resource };
  }

  public generatedSecret(scope: Construct, id: string, options: SecretOptions = {}): string {
    this.randomProvider ??= new RandomProvider(this, 'random');
    const length = options.length ?? 32;
    if (options.hex) return new Id(scope, id, { byteLength: Math.ceil(length / 2) }).hex;
    // Alphanumeric only: the value lands in URLs (DATABASE_URL) and config files without escaping.
    return new Password(scope, id, { length, special: false }).result;
  }

  public secretVariable(name: string, description: string): string {
    let v = this.variables.get(name);
    if (!v) {
      v = new TerraformVariable(this, name, { type: 'string', sensitive: true, nullable: false, description });
      this.variables.set(name, v);
    }
    return v.stringValue;
  }

  private image(key: string): Image {
    let img = this.images.get(key);
    if (!img) {
      img = new Image(this, `image-${key}`, {
        name: imageReference(key, this.city.registry, this.city.images),
        keepLocally: true,
      });
      this.images.set(key, img);
    }
    return img;
  }

  private labels(extra: Record<string, string>): Record<string, string> {
    return { [LABEL.commune]: this.communeSlug, [LABEL.host]: this.host.name, ...extra };
  }
}

/**
 * A generated file of a synthesized docker_container (cdk.tf.json), wherever the stack put it: an
 * upload, or, for a read-only container, the SOCLE_FILE_<n> environment socle-files writes out.
 */
export function generatedFileOf(container: { upload?: Array<{ file: string; content: string }>; env?: string[] }, path: string): string | undefined {
  const upload = (container.upload ?? []).find((u) => u.file === path);
  if (upload) return upload.content;
  const env = container.env ?? [];
  const index = env.find((e) => /^SOCLE_FILE_\d+_PATH=/.test(e) && e.endsWith(`=${path}`))?.match(/^SOCLE_FILE_(\d+)_PATH/)?.[1];
  const entry = index === undefined ? undefined : env.find((e) => e.startsWith(`SOCLE_FILE_${index}=`));
  return entry?.slice(`SOCLE_FILE_${index}=`.length);
}
