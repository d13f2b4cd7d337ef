import { Construct, type IConstruct } from 'constructs';

/**
 * What a service declares, independent of where it runs. A Docker host stack turns these into
 * docker_container resources today; a Swarm target can turn the same specs into docker_service.
 */
export interface INetwork {
  /** The network's name as the engine knows it (may be a token creating a dependency). */
  readonly name: string;
  readonly internal: boolean;
  /** The Linux bridge behind it: the host firewall filters what leaves by this name. */
  readonly bridge: string;
}

/**
 * A destination containers of a network may reach outside the host: everything else is dropped by
 * the host firewall (the Ansible role loads the rules Socle renders from these flows).
 */
export interface EgressFlow {
  /** IPv4 address or DNS name, or `any` for software whose peers are the internet (Tor). */
  readonly to: string;
  /** @default every port (only with `any`) */
  readonly port?: number;
  /** @default 'tcp' */
  readonly protocol?: 'tcp' | 'udp';
  /** Who is there and why, in words, for the audit and the rule's comment. */
  readonly reason: string;
}

export type NetworkTier =
  /** Databases and caches of one app: internal, no route out. */
  | 'data'
  /** The proxy and the app front ends it serves: internal. */
  | 'frontend'
  /** Apps and the mail gateway: internal; only the gateway leaves. */
  | 'mail'
  /** Networks with a route out: the proxy's published ports, the gateway's and Tor's egress. */
  | 'egress';

export interface NetworkProps {
  /** Short name, prefixed with the commune's slug. */
  readonly name: string;
  readonly tier: NetworkTier;
  /** @default true for every tier but egress */
  readonly internal?: boolean;
}

export type DataCategory =
  /** Citizens' contributions, accounts, survey answers, visitors' IP addresses. */
  | 'personal'
  /** Keys and credentials (onion keys, TLS material). */
  | 'secret'
  /** Configuration and state that holds no personal data. */
  | 'operational'
  /** Rebuildable caches. */
  | 'cache';

export interface VolumeProps {
  /** Short name, prefixed with the commune's slug. */
  readonly name: string;
  /** Service owning the data, e.g. `limesurvey`. */
  readonly service: string;
  readonly category: DataCategory;
  /** How long the data is kept, in French words for the register (e.g. `90 jours`, `durée de la consultation`). */
  readonly retention: string;
  /**
   * What deletes the data once the retention is over, in French words for the register and the audit (a
   * container, a scheduled task, an app setting Socle applies and reads back). Unset when nothing
   * does: for personal data that is a failed audit check (npm run audit), not a footnote.
   */
  readonly retentionEnforcedBy?: string;
  /** Whether the backup runner copies it. @default true unless category is cache */
  readonly backup?: boolean;
  /** A database server's files: the backup runner dumps the database instead of copying them. @default false */
  readonly dumped?: boolean;
  /**
   * The volume always holds data once the service has started (keys, configuration): the backup
   * refuses to record a run where it is empty, since that can only mean loss. @default false
   */
  readonly expectContent?: boolean;
  /** Keep the volume when the stack is destroyed. @default true for personal and secret data */
  readonly preventDestroy?: boolean;
}

export interface IVolume {
  readonly name: string;
  readonly props: VolumeProps;
}

export interface HealthcheckSpec {
  readonly test: readonly string[];
  /** @default 10 (HEALTHCHECK_INTERVAL_SEC) */ readonly intervalSec?: number;
  /** @default 5 */ readonly timeoutSec?: number;
  /** @default 3 */ readonly retries?: number;
  /** @default 30 */ readonly startPeriodSec?: number;
}

export interface ContainerSpec {
  /** Service the container belongs to, e.g. `limesurvey`. */
  readonly service: string;
  /** Role inside the service, e.g. `app`, `db`. The engine name is `<slug>-<service>-<role>`. */
  readonly role: string;
  /** Key in the image catalog (services/common/images.ts), or a name under the registry namespace. */
  readonly image: string;
  readonly command?: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly networks?: ReadonlyArray<{ readonly network: INetwork; readonly aliases?: readonly string[] }>;
  /** `none` for containers that need no network at all. */
  readonly networkMode?: 'none';
  readonly volumes?: ReadonlyArray<{ readonly volume: IVolume; readonly path: string; readonly readOnly?: boolean }>;
  /** Files of the host mounted read-only (e.g. the city's TLS certificates). */
  readonly hostMounts?: ReadonlyArray<{ readonly hostPath: string; readonly path: string }>;
  /** Writable scratch space in memory: path -> size in MiB. */
  readonly tmpfs?: Readonly<Record<string, number>>;
  readonly healthcheck: HealthcheckSpec;
  readonly memoryMiB: number;
  /** Process (and thread) limit, counted per user across the host. @default 4096 (CONTAINER_DEFAULTS.maxProcesses) */
  readonly maxProcesses?: number;
  /** `uid:gid` or a user name of the image. @default the image's own USER */
  readonly user?: string;
  /**
   * The domain of the container's host name, `<service>-<role>.<domain>`: what a program names
   * itself by, e.g. PHPMailer in the Message-ID of the mail it sends (the city's sending domain).
   * @default - `<service>-<role>`, no domain
   */
  readonly domain?: string;
  /** @default true: software that must write outside its volumes says so explicitly */
  readonly readOnlyRootfs?: boolean;
  /** Capabilities to keep after dropping all. @default none */
  readonly capAdd?: readonly string[];
  readonly ports?: ReadonlyArray<{ readonly internal: number; readonly external: number; readonly ip: string }>;
  /** Static name resolution (`/etc/hosts`), for peers reached by address on the city network. */
  readonly extraHosts?: ReadonlyArray<{ readonly host: string; readonly ip: string }>;
  /**
   * Whether the container may resolve names outside the stack through the host's resolver (a
   * backup target given by DNS name). Otherwise it resolves the stack's own names only: Docker's
   * embedded DNS answers those, and a query for any other name goes to 127.0.0.1, where nothing
   * answers, instead of being forwarded to a resolver outside the host. @default false
   */
  readonly resolvesExternalNames?: boolean;
  /**
   * For an app whose new image migrates its data (LimeSurvey's updatedb): the command, in this
   * container, that records the backup taken before the upgrade. A deploy that replaces the image
   * first runs a backup, then `<command> SNAPSHOT` in the running container, and restores that
   * snapshot if the new one does not become healthy (scripts/lib/upgrade-gate.ts). @default none
   */
  readonly upgradeGate?: string;
  /** Lets a non-root process listen below 1024 (via a namespaced sysctl, not a capability). @default false */
  readonly bindsLowPorts?: boolean;
  /**
   * Generated files written into the container at creation. In a read-only container they must be
   * under /etc/socle (CONFIG_DIR): they travel in the environment and the image's socle-files
   * entrypoint writes them to a tmpfs there. Not for secrets beyond references.
   */
  readonly uploads?: ReadonlyArray<{ readonly path: string; readonly content: string; readonly executable?: boolean }>;
}

export interface IContainer {
  readonly spec: ContainerSpec;
  /** The engine name, `<slug>-<service>-<role>`. */
  readonly containerName: string;
  /** The construct holding the container resource (for suppressions). */
  readonly construct: IConstruct;
}

export interface SecretOptions {
  /** Generated value length, in characters. @default 32 */
  readonly length?: number;
  /** Hexadecimal (for keys given as hex bytes) instead of alphanumeric. @default false */
  readonly hex?: boolean;
}

/**
 * A processing of personal data, as the Art. 30 register (registre des activités de traitement)
 * describes it. In French: the register is the commune's document. Where its data is kept, for how
 * long and what deletes it come from the volumes of its services, not from these words.
 */
export interface ProcessingActivity {
  /** Services whose volumes hold its data. */
  readonly services: readonly string[];
  readonly name: string;
  readonly purposes: readonly string[];
  readonly legalBasis: string;
  readonly people: readonly string[];
  readonly data: readonly string[];
  readonly recipients: readonly string[];
  /** What protects this processing besides what every service has (the register lists those once). */
  readonly measures: readonly string[];
}

/** The placement target services declare against. */
export interface IPlatform {
  /** The commune's slug (`ville-exemple`), the prefix of every name. */
  readonly communeSlug: string;
  /** `<slug>-<parts...>`: engine-level names never collide between communes sharing a host. */
  qualify(...parts: string[]): string;
  network(scope: Construct, props: NetworkProps): INetwork;
  volume(scope: Construct, props: VolumeProps): IVolume;
  container(scope: Construct, id: string, spec: ContainerSpec): IContainer;
  /** A value generated at apply time (random_password): only a reference in the synthesized output. */
  generatedSecret(scope: Construct, id: string, options?: SecretOptions): string;
  /** A sensitive Terraform variable the deploy step fills from the city's secret reference. */
  secretVariable(name: string, description: string): string;
  /** Every volume declared so far, for backups and audits. */
  readonly volumes: readonly IVolume[];
  /** Records a processing of personal data for the register the proxy serves. */
  declareProcessing(activity: ProcessingActivity): void;
  /** Every processing declared so far. */
  readonly processing: readonly ProcessingActivity[];
  /** Lets containers of `network` reach one destination outside the host (see EgressFlow). */
  allowEgress(network: INetwork, flow: EgressFlow): void;
}

const PLATFORM = Symbol.for('socle.platform');

export const Platform = {
  /** Marks a construct (usually a stack) as the platform its subtree deploys to. */
  register(scope: IConstruct, platform: IPlatform): void {
    (scope as any)[PLATFORM] = platform;
  },
  /** The nearest platform above `scope`. */
  of(scope: IConstruct): IPlatform {
    for (const s of [scope, ...scope.node.scopes.slice().reverse()]) {
      const p = (s as any)[PLATFORM] as IPlatform | undefined;
      if (p) return p;
    }
    throw new Error(`no platform above ${scope.node.path}: create services inside a HostStack`);
  },
};
