import { isIPv4 } from 'node:net';
import { Construct } from 'constructs';
import { Lazy, TerraformStack } from 'cdktf';
import { Container, containerNetworksAdvancedToTerraform, containerVolumesToTerraform, type ContainerNetworksAdvanced, type ContainerVolumes } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { Platform, type INetwork, type IPlatform, type IVolume } from '../common/platform.js';
import { relayTrust, type SmtpSettings } from '../mail-gateway/index.js';
import { dumpAccountsOf, type DumpAccount } from '../common/database.js';
import { suppress } from '../../core/suppressions.js';
import { LABEL } from '../../core/labels.js';
import {
  BACKUP_PLAN_PATH, BACKUP_PLAN_VERSION, RELAY_PASSWORD_ENV, RUNNER_LOG, RUNNER_PATHS, RUNNER_PROGRAM, RUNNER_ROLE, SYSTEM_TRUST_FILE,
  databasePasswordEnv, dumpFileName, volumeMountPath, type BackupPlan, type PlannedAlerts, type RetentionPolicy,
} from './plan.js';

export interface BackupTarget {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly path: string;
  /**
   * A store on this same host, reached over this network by its name: no packet leaves the host,
   * and none goes through the host's own address (the host firewall drops containers -> host).
   * @default - reached at `host` through the runner's egress network
   */
  readonly network?: INetwork;
}

/** Who hears of a failed night, and the mail route the alerts take (the host's mail gateway). */
export interface BackupAlerts {
  /** Mailboxes a person reads (mail.alerts); at least one. */
  readonly to: readonly string[];
  /** The relay settings the apps of this host get from its mail gateway. */
  readonly smtp: SmtpSettings;
  /** Put in front of every subject, e.g. `Ville-Sauvegarde, serveur-1`. */
  readonly label: string;
  /** Seconds before each new attempt while the relay does not answer. @default [5, 15, 40] (a minute, then the daemon's flushes) */
  readonly retrySeconds?: readonly number[];
  /** Minutes between the daemon's attempts to send what is queued. @default 15 */
  readonly flushEveryMinutes?: number;
}

export interface BackupRunnerProps {
  /** Repositories on city storage (SFTP). */
  readonly targets: readonly BackupTarget[];
  /** Reference to the repository key the city holds. */
  readonly password: string;
  /** Reference to the SSH private key used to reach the targets. */
  readonly sshPrivateKey: string;
  /** Daily start, HH:MM. @default '03:15' */
  readonly schedule?: string;
  /** restic forget --prune policy. @default 7 daily, 5 weekly, 12 monthly */
  readonly retention?: RetentionPolicy;
  /** Days between two `restic check` runs of each target (5% of the data read each time). @default 7 */
  readonly checkEveryDays?: number;
  /** Age past which `status` reports a target's last good backup as stale. @default 30 */
  readonly maxAgeHours?: number;
  /**
   * Failed nights (and `npm run backup -- drill|status --notify` reports) are mailed there; a
   * runner whose failures reach nobody is not offered.
   */
  readonly alerts: BackupAlerts;
  /** @default 512 */
  readonly memoryMiB?: number;
}

/** The alert settings of the plan: the secret stays in the environment, the plan names it. */
function alertPlan(a: BackupAlerts): PlannedAlerts {
  const retrySeconds = a.retrySeconds ?? [5, 15, 40];
  if (retrySeconds.some((s) => !(Number.isInteger(s) && s > 0))) throw new Error(`alert retry delays must be whole positive seconds, got ${retrySeconds.join(', ')}`);
  return {
    to: a.to, from: a.smtp.from, label: a.label,
    host: a.smtp.host, port: a.smtp.port, security: a.smtp.security, user: a.smtp.user, passwordEnv: RELAY_PASSWORD_ENV,
    // msmtp (GnuTLS) reads its trust file from its configuration, not SSL_CERT_FILE.
    trustFile: a.smtp.ca ? RUNNER_PATHS.relayCa : SYSTEM_TRUST_FILE,
    retrySeconds, flushEveryMinutes: a.flushEveryMinutes ?? 15,
  };
}

/** restic's sftp:// form carries the port; the path after the host is absolute (hence //). */
function repositoryUrl(t: BackupTarget): string {
  return `sftp://${t.user}@${t.host}:${t.port}/${t.path}`;
}

/**
 * restic runner for one host: dumps the databases consistently (MariaDB single-transaction,
 * pg_dump), then backs up the dumps and every volume marked for backup to the city's storage.
 * What it copies is read from its host when the stack is synthesized, not when it is declared:
 * services declared after it are backed up too. Its program reads everything from one JSON plan
 * (services/backup/plan.ts). @stateful - its cache volume holds the last dumps and pinned host keys
 */
export class BackupRunner extends Construct {
  private readonly platform: IPlatform;
  private readonly settings: Omit<BackupPlan, 'databases' | 'volumes'>;

  constructor(scope: Construct, id: string, props: BackupRunnerProps) {
    super(scope, id);
    const platform = Platform.of(this);
    platform.declareProcessing({
      services: ['backup', 'backup-store'],
      name: 'Sauvegardes',
      purposes: ['restaurer les données des traitements ci-dessus après une panne ou un incident'],
      legalBasis: 'obligation de sécurité du responsable de traitement (article 32 du RGPD)',
      people: ['les personnes des traitements ci-dessus'],
      data: ['copies chiffrées des bases et fichiers des traitements ci-dessus'],
      recipients: ['administrateur système de la commune, seul détenteur de la clé des sauvegardes'],
      measures: ['sauvegardes chiffrées (restic), sur le stockage de la commune ; restaurations d’essai'],
    });
    this.platform = platform;
    if (props.targets.length === 0) throw new Error('backup runner needs at least one target; add services.backup.targets or a store to the city file');
    if (props.alerts.to.length === 0) throw new Error('backup runner needs at least one alert address; add mail.alerts to the city file');
    this.settings = {
      version: BACKUP_PLAN_VERSION,
      // One restic host per city host: the retention policy applies to each host's snapshots.
      resticHost: platform.qualify('backup'),
      schedule: props.schedule ?? '03:15',
      retention: props.retention ?? { daily: 7, weekly: 5, monthly: 12 },
      checkEveryDays: props.checkEveryDays ?? 7,
      maxAgeHours: props.maxAgeHours ?? 30,
      paths: RUNNER_PATHS,
      log: RUNNER_LOG,
      targets: props.targets.map((t) => ({ name: t.name, url: repositoryUrl(t) })),
      alerts: alertPlan(props.alerts),
    };
    const egress = platform.network(this, { name: 'backup-egress', tier: 'egress' });
    const remote = props.targets.filter((t) => !t.network);
    for (const t of remote) platform.allowEgress(egress, { to: t.host, port: t.port, reason: `backup target ${t.name} (SFTP)` });
    const storeNetworks = props.targets.flatMap((t) => (t.network ? [{ network: t.network }] : []));
    // restic's cache, and the last database dumps (kept so an unchanged database is not dumped again).
    const cache = platform.volume(this, { name: 'backup-cache', service: 'backup', category: 'personal', retention: 'les derniers exports des bases, remplacés à chaque sauvegarde ; cache reconstruit par restic', retentionEnforcedBy: 'le conteneur de sauvegarde, qui remplace les exports à chaque passage', backup: false, preventDestroy: false });
    const runner = platform.container(this, 'Resource', {
      service: 'backup',
      role: RUNNER_ROLE,
      image: 'backup',
      command: [RUNNER_PROGRAM, 'daemon'],
      // Read by restic itself. Everything socle-backup reads is in the plan.
      env: { RESTIC_PASSWORD: props.password, RESTIC_CACHE_DIR: RUNNER_PATHS.cache, TMPDIR: RUNNER_PATHS.tmp, [RELAY_PASSWORD_ENV]: props.alerts.smtp.password },
      // The mail network: alerts leave through the host's mail gateway, to the relay only.
      networks: [{ network: egress }, { network: props.alerts.smtp.network }, ...storeNetworks],
      volumes: [{ volume: cache, path: RUNNER_PATHS.home }],
      uploads: [
        // Copied to a 0600 file of its own by the program: ssh refuses a key readable by others.
        { path: RUNNER_PATHS.sshKey, content: props.sshPrivateKey },
        { path: BACKUP_PLAN_PATH, content: Lazy.stringValue({ produce: () => JSON.stringify(this.plan) }) },
        // The relay's CA where every mail sender finds it (RUNNER_PATHS.relayCa is that path).
        ...relayTrust(props.alerts.smtp).uploads,
      ],
      tmpfs: { '/tmp': 64 },
      // Root with one capability: reading any file (DAC_READ_SEARCH), not writing or chowning them.
      user: '0:0',
      capAdd: ['DAC_READ_SEARCH'],
      // Targets given by DNS name are resolved by the host's resolver (the city's).
      resolvesExternalNames: remote.some((t) => !isIPv4(t.host)),
      // Unhealthy while the heartbeat is old, and while the last run could not back up everything.
      healthcheck: { test: ['CMD', RUNNER_PROGRAM, 'healthy'] },
      memoryMiB: props.memoryMiB ?? 512,
    });
    this.bindLate(runner.construct as Container);
    this.node.addValidation({ validate: () => this.validatePlan() });
    suppress(runner.construct, [{ id: 'Socle-CT3', reason: 'the backup runner reads every file of the volumes it copies (DAC_READ_SEARCH), all mounted read-only; it keeps no other capability' }]);
  }

  /** Volumes of this host marked for backup, as they are when read. */
  private get backedUpVolumes(): readonly IVolume[] {
    return this.platform.volumes.filter((v) => v.props.backup);
  }

  /** The dump accounts of this host's databases, as they are when read. */
  private get dumpAccounts(): readonly DumpAccount[] {
    return dumpAccountsOf(this.platform);
  }

  /** The runner's plan: what the stack declares on this host at the time it is read (synth time). */
  public get plan(): BackupPlan {
    return {
      ...this.settings,
      databases: this.dumpAccounts.map((d, i) => ({
        service: d.service, engine: d.engine, host: d.host, port: d.port, database: d.database, user: d.user,
        passwordEnv: databasePasswordEnv(i), dumpFile: dumpFileName(d.service, d.engine),
      })),
      volumes: this.backedUpVolumes.map((v) => ({ name: v.props.name, mountPath: volumeMountPath(v.props.name), expectContent: v.props.expectContent ?? false })),
    };
  }

  /**
   * The parts of the container that depend on the rest of the host (the volumes it mounts, the
   * data networks it joins, the dump passwords it holds) are produced when the stack is
   * synthesized, after what was declared before them at construction.
   */
  private bindLate(container: Container): void {
    const env = container.envInput ?? [];
    container.env = Lazy.listValue({ produce: () => [...env, ...this.dumpAccounts.map((d, i) => `${databasePasswordEnv(i)}=${d.password}`)] });
    const volumes = (container.volumesInput ?? []) as ContainerVolumes[];
    container.putVolumes(Lazy.anyValue({
      produce: () => [...volumes, ...this.backedUpVolumes.map((v) => ({ volumeName: v.name, containerPath: volumeMountPath(v.props.name), readOnly: true }))].map(containerVolumesToTerraform),
    }));
    const networks = (container.networksAdvancedInput ?? []) as ContainerNetworksAdvanced[];
    container.putNetworksAdvanced(Lazy.anyValue({
      produce: () => {
        const dataNetworks = [...new Map<string, INetwork>(this.dumpAccounts.map((d) => [d.network.name, d.network])).values()];
        return [...networks, ...dataNetworks.map((n) => ({ name: n.name }))].map(containerNetworksAdvancedToTerraform);
      },
    }));
  }

  /** After construction: the plan covers this host's backed-up volumes, and only this host's. */
  private validatePlan(): string[] {
    const errors: string[] = [];
    const plan = this.plan;
    if (plan.volumes.length === 0 && plan.databases.length === 0) {
      errors.push(`backup runner ${this.node.path} has nothing to back up: no volume marked for backup and no database on this host; remove it, or declare its services on this host`);
    }
    const stack = TerraformStack.of(this);
    const declared = stack.node.findAll().filter((c): c is Volume => c instanceof Volume);
    const planned = new Set(plan.volumes.map((v) => this.platform.qualify(v.name)));
    for (const v of declared) {
      const labels = Array.isArray(v.labelsInput) ? v.labelsInput : [];
      const backup = labels.find((l) => l.label === LABEL.backup)?.value === 'true';
      if (backup && !planned.has(v.nameInput ?? '')) {
        errors.push(`volume ${v.nameInput} of ${stack.node.id} is labelled ${LABEL.backup}=true but the backup runner does not copy it; declare it with platform.volume() so the runner sees it`);
      }
    }
    const here = new Set(declared.map((v) => v.nameInput));
    for (const name of planned) {
      if (!here.has(name)) errors.push(`volume ${name} is in the plan of the backup runner of ${stack.node.id} but is not a volume of that host; a runner copies its own host's volumes only`);
    }
    for (const [what, names] of [['volume', plan.volumes.map((v) => v.name)], ['dump file', plan.databases.map((d) => d.dumpFile)]] as const) {
      const twice = names.filter((n, i) => names.indexOf(n) !== i);
      if (twice.length) errors.push(`backup runner ${this.node.path}: ${what} names must be unique on a host, got ${[...new Set(twice)].join(', ')} more than once`);
    }
    return errors;
  }
}
