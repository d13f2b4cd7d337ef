import { Construct } from 'constructs';
import { Platform, type IVolume } from '../common/platform.js';
import type { DatabaseConnection } from '../common/database.js';
import { suppress } from '../../core/suppressions.js';

export interface BackupTarget {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly path: string;
}

export interface BackupRunnerProps {
  /** Repositories on city storage (SFTP). */
  readonly targets: readonly BackupTarget[];
  /** Volumes to copy (those marked for backup), mounted read-only. */
  readonly volumes: readonly IVolume[];
  /** Databases to dump consistently before each run. */
  readonly databases: readonly DatabaseConnection[];
  /** Reference to the repository key the city holds. */
  readonly password: string;
  /** Reference to the SSH private key used to reach the targets. */
  readonly sshPrivateKey: string;
  /** Daily start, HH:MM. @default '03:15' */
  readonly schedule?: string;
  /** restic forget --prune policy. @default 7 daily, 5 weekly, 12 monthly */
  readonly retention?: { readonly daily: number; readonly weekly: number; readonly monthly: number };
  /** Days between two `restic check` runs of each target (5% of the data read each time). @default 7 */
  readonly checkEveryDays?: number;
  /** Age past which `status` reports a target's last good backup as stale. @default 30 */
  readonly maxAgeHours?: number;
  /** @default 512 */
  readonly memoryMiB?: number;
}

/**
 * restic runner for one host: dumps the databases consistently (MariaDB single-transaction,
 * pg_dump), then backs up the dumps and every volume marked for backup to the city's storage.
 * Declared last on a host, with what the services on that host registered.
 */
export class BackupRunner extends Construct {
  constructor(scope: Construct, id: string, props: BackupRunnerProps) {
    super(scope, id);
    const platform = Platform.of(this);
    if (props.targets.length === 0) throw new Error('backup runner needs at least one target; add services.backup.targets or a store to the city file');
    const egress = platform.network(this, { name: 'backup-egress', tier: 'egress' });
    for (const t of props.targets) platform.allowEgress(egress, { to: t.host, port: t.port, reason: `backup target ${t.name} (SFTP)` });
    // restic's cache, and the last database dumps (kept so an unchanged database is not dumped again).
    const cache = platform.volume(this, { name: 'backup-cache', service: 'backup', category: 'personal', retention: 'the last database dumps, replaced at each run; cache rebuilt by restic', backup: false, preventDestroy: false });
    const retention = props.retention ?? { daily: 7, weekly: 5, monthly: 12 };
    const env: Record<string, string> = {
      RESTIC_PASSWORD: props.password,
      // restic leaves its own cache directory out of every backup: the dumps sit beside it, not in it.
      RESTIC_CACHE_DIR: '/var/lib/socle-backup/cache',
      // restic stages pack files in TMPDIR until they are uploaded: on disk, not the small /tmp tmpfs.
      TMPDIR: '/var/lib/socle-backup/tmp',
      SOCLE_BACKUP_SCHEDULE: props.schedule ?? '03:15',
      SOCLE_BACKUP_KEEP: `--keep-daily ${retention.daily} --keep-weekly ${retention.weekly} --keep-monthly ${retention.monthly}`,
      SOCLE_BACKUP_CHECK_EVERY_DAYS: String(props.checkEveryDays ?? 7),
      // restic's sftp:// form carries the port; the path after the host is absolute (hence //).
      SOCLE_BACKUP_TARGETS: props.targets.map((t) => `${t.name}=sftp://${t.user}@${t.host}:${t.port}/${t.path}`).join(' '),
      SOCLE_BACKUP_MAX_AGE_HOURS: String(props.maxAgeHours ?? 30),
      SOCLE_BACKUP_VOLUMES: props.volumes.map((v) => v.props.name).join(' '),
      // Volumes whose emptiness can only mean loss: the run refuses to record them empty.
      SOCLE_BACKUP_REQUIRED_VOLUMES: props.volumes.filter((v) => v.props.expectContent).map((v) => v.props.name).join(' '),
      // One restic host per city host: the retention policy applies to each host's snapshots.
      SOCLE_BACKUP_HOST: platform.qualify('backup'),
    };
    props.databases.forEach((d, i) => {
      env[`SOCLE_DB_${i}`] = `${d.engine} ${d.service} ${d.host} ${d.port} ${d.database} ${d.dumpUser}`;
      env[`SOCLE_DB_${i}_PASSWORD`] = d.dumpPassword;
    });
    const dataNetworks = [...new Map(props.databases.map((d) => [d.network.name, d.network])).values()];
    const runner = platform.container(this, 'Resource', {
      service: 'backup',
      role: 'restic',
      image: 'backup',
      command: ['socle-backup', 'daemon'],
      env,
      networks: [{ network: egress }, ...dataNetworks.map((network) => ({ network }))],
      volumes: [
        { volume: cache, path: '/var/lib/socle-backup' },
        ...props.volumes.map((v) => ({ volume: v, path: `/data/${v.props.name}`, readOnly: true })),
      ],
      // Copied to a 0600 file of its own by the entrypoint: ssh refuses a key readable by others.
      uploads: [{ path: '/etc/socle/ssh/id_ed25519', content: props.sshPrivateKey }],
      tmpfs: { '/tmp': 64 },
      // Root with one capability: reading any file (DAC_READ_SEARCH), not writing or chowning them.
      user: '0:0',
      capAdd: ['DAC_READ_SEARCH'],
      // Targets given by DNS name are resolved by the host's resolver (the city's).
      resolvesExternalNames: props.targets.some((t) => !/^\d+\.\d+\.\d+\.\d+$/.test(t.host)),
      // The daemon touches this heartbeat every minute while it waits (and before each run); a run
      // that could not back up everything leaves a mark on the volume until a good run removes it.
      healthcheck: { test: ['CMD-SHELL', 'test -n "$(find /tmp/socle-backup.alive -mmin -3 2>/dev/null)" && ! test -e /var/lib/socle-backup/state/last-run.failed'] },
      memoryMiB: props.memoryMiB ?? 512,
    });
    suppress(runner.construct, [{ id: 'Socle-CT3', reason: 'the backup runner reads every file of the volumes it copies (DAC_READ_SEARCH), all mounted read-only; it keeps no other capability' }]);
  }
}
