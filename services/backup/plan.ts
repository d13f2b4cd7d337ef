// The contract between Socle's TypeScript (the stack that declares the backup runner, and
// `npm run backup`, which drives it) and the runner's program in the image (bin/socle-backup).
// Everything both sides must agree on is defined here once: the stack renders it into one JSON
// document uploaded into the runner (BACKUP_PLAN_PATH), the program reads every setting from that
// document with jq, and `npm run backup` reads the same document back from the running container.
// Secrets never travel in the plan: it names the environment variables that hold them.
// backup-plan.test.ts checks that the program reads only keys listed here, and that the lines it
// prints are the ones parseRunnerLine understands.

import { RELAY_CA_PATH } from '../mail-gateway/index.js';

/** Where the runner finds its plan (uploaded by the stack; socle-files writes it at start). */
export const BACKUP_PLAN_PATH = '/etc/socle/backup-plan.json';

/** The runner's program, on the image's PATH: `docker exec RUNNER socle-backup ...`. */
export const RUNNER_PROGRAM = 'socle-backup';

/** `fr.socle.role` of the runner container, and of the one-shot containers made from it. */
export const RUNNER_ROLE = 'restic';
export const ONE_SHOT_ROLE = 'restic-oneshot';

/** Bumped when a key changes meaning: the program refuses a plan of another version. */
export const BACKUP_PLAN_VERSION = 1;

/** Paths inside the runner (and the one-shot containers made from its image and settings). */
export interface RunnerPaths {
  /** The runner's cache volume: everything below survives a recreated container. */
  readonly home: string;
  /** restic's cache (RESTIC_CACHE_DIR): restic leaves it out of every backup. */
  readonly cache: string;
  /** restic stages pack files here (TMPDIR): on disk, not the small /tmp tmpfs. */
  readonly tmp: string;
  /** The last database dumps, beside the cache and not in it (they are backed up). */
  readonly dumps: string;
  /** Signatures, last good run and check per target, the failed-run mark. */
  readonly state: string;
  /** Written when a run could not back up everything; the healthcheck fails while it exists. */
  readonly failedMark: string;
  /** The targets' SSH host keys, pinned at first contact. */
  readonly knownHosts: string;
  /** The SSH private key the stack delivers (copied to a 0600 file under sshHome). */
  readonly sshKey: string;
  /** ssh's home: the root filesystem is read-only, so on the /tmp tmpfs. */
  readonly sshHome: string;
  /** Touched every minute by the daemon: the healthcheck's heartbeat. */
  readonly heartbeat: string;
  /** One run at a time per runner (flock). */
  readonly lock: string;
  /** Each backed-up volume is mounted read-only at `<volumes>/<name>`. */
  readonly volumes: string;
  /** Alerts not sent yet, one RFC 5322 message per file: on the volume, so none is lost with the container. */
  readonly alertQueue: string;
  /** msmtp's configuration, written by the program from the plan (on the /tmp tmpfs). */
  readonly mailConfig: string;
  /** The city CA that signs the relay's certificate, when the city file gives one (mail.relay.ca). */
  readonly relayCa: string;
}

export const RUNNER_PATHS: RunnerPaths = {
  home: '/var/lib/socle-backup',
  cache: '/var/lib/socle-backup/cache',
  tmp: '/var/lib/socle-backup/tmp',
  dumps: '/var/lib/socle-backup/dumps',
  state: '/var/lib/socle-backup/state',
  failedMark: '/var/lib/socle-backup/state/last-run.failed',
  knownHosts: '/var/lib/socle-backup/known_hosts',
  sshKey: '/etc/socle/ssh/id_ed25519',
  sshHome: '/tmp/socle-home',
  heartbeat: '/tmp/socle-backup.alive',
  lock: '/tmp/socle-backup.lock',
  volumes: '/data',
  alertQueue: '/var/lib/socle-backup/alerts',
  mailConfig: '/tmp/socle-home/msmtprc',
  relayCa: RELAY_CA_PATH,
};

/** Debian's CA bundle: the relay's certificate is checked against it when the city gives no CA. */
export const SYSTEM_TRUST_FILE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * How the program writes its log lines on stderr: `<UTC time> <program>: <message>`, and for
 * failures `<UTC time> <program>: <errorMarker>: <message>` (monitoring greps for the marker,
 * people read the message).
 */
export interface RunnerLog {
  readonly program: string;
  readonly errorMarker: string;
}

export const RUNNER_LOG: RunnerLog = { program: RUNNER_PROGRAM, errorMarker: 'ERROR' };

export type DatabaseEngineName = 'mariadb' | 'postgres';

/** One database the runner dumps before each run, with the read-only dump account. */
export interface PlannedDatabase {
  /** Service owning the database, e.g. `limesurvey`. */
  readonly service: string;
  readonly engine: DatabaseEngineName;
  /** Name on the data network the runner joins. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The dump account. */
  readonly user: string;
  /** Name of the runner's environment variable holding the dump account's password. */
  readonly passwordEnv: string;
  /** File name of its dump under paths.dumps (and in every snapshot). */
  readonly dumpFile: string;
}

/** One volume the runner copies, mounted read-only. */
export interface PlannedVolume {
  /** Short name (without the commune's prefix), as in snapshots and `npm run backup` output. */
  readonly name: string;
  readonly mountPath: string;
  /** Its emptiness can only mean loss (keys, configuration): a run refuses to record it empty. */
  readonly expectContent: boolean;
}

/** One restic repository on city storage. */
export interface PlannedTarget {
  readonly name: string;
  /** restic's repository URL, e.g. `sftp://restic@nas:22//srv/restic/ville`. */
  readonly url: string;
}

/** restic forget --prune policy. */
export interface RetentionPolicy {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

/**
 * Who is told when a night fails, and how the mail leaves: through the host's mail gateway to the
 * city's relay (its Zimbra), with TLS for the relay's name before the password, as the apps send.
 */
export interface PlannedAlerts {
  /** mail.alerts of the city file: mailboxes a person reads. */
  readonly to: readonly string[];
  /** Sender and envelope sender (mail.from), in the city's domain. */
  readonly from: string;
  /** Put in front of every subject: the commune and the host, e.g. `Ville-Sauvegarde, serveur-1`. */
  readonly label: string;
  /** The relay's name: on the mail network it resolves to the gateway; the certificate names it. */
  readonly host: string;
  readonly port: number;
  /** `starttls` (587) or `tls` (465, implicit TLS). Either way TLS comes before the password. */
  readonly security: 'starttls' | 'tls';
  readonly user: string;
  /** Name of the runner's environment variable holding the relay password. */
  readonly passwordEnv: string;
  /** CA bundle the relay's certificate is checked against (paths.relayCa or SYSTEM_TRUST_FILE). */
  readonly trustFile: string;
  /**
   * Waits, in seconds, before each new attempt while the relay does not answer. A refusal that
   * waiting cannot mend (password, certificate, no STARTTLS) is not retried.
   */
  readonly retrySeconds: readonly number[];
  /** Minutes between two attempts of the daemon to send what is queued. */
  readonly flushEveryMinutes: number;
}

/** Everything the runner's program needs, as one JSON document (BACKUP_PLAN_PATH). */
export interface BackupPlan {
  readonly version: number;
  /** restic's host name of this city host's snapshots (the retention policy applies per host). */
  readonly resticHost: string;
  /** Daily start, HH:MM (the container's time zone, UTC). */
  readonly schedule: string;
  readonly retention: RetentionPolicy;
  /** Days between two `restic check` runs of each target (and the longest a kept dump may age). */
  readonly checkEveryDays: number;
  /** Age past which `status` reports a target's last good backup as stale. */
  readonly maxAgeHours: number;
  readonly paths: RunnerPaths;
  readonly log: RunnerLog;
  readonly targets: readonly PlannedTarget[];
  readonly databases: readonly PlannedDatabase[];
  readonly volumes: readonly PlannedVolume[];
  readonly alerts: PlannedAlerts;
}

/** jq paths of a JSON type: `.a.b` for values, `.list[].x` for elements of lists. */
type Leaf = string | number | boolean;
export type PlanPath<T, P extends string = ''> = T extends Leaf
  ? P
  : T extends ReadonlyArray<infer E>
    ? PlanPath<E, `${P}[]`>
    : { [K in keyof T & string]: PlanPath<T[K], `${P}.${K}`> }[keyof T & string];

/**
 * Every value of the plan as the jq path the program reads it with. The compiler checks this list
 * against BackupPlan both ways (see PLAN_KEYS_COMPLETE); the unit test checks the program against it.
 */
export const PLAN_KEYS = [
  '.version', '.resticHost', '.schedule',
  '.retention.daily', '.retention.weekly', '.retention.monthly',
  '.checkEveryDays', '.maxAgeHours',
  '.paths.home', '.paths.cache', '.paths.tmp', '.paths.dumps', '.paths.state', '.paths.failedMark',
  '.paths.knownHosts', '.paths.sshKey', '.paths.sshHome', '.paths.heartbeat', '.paths.lock', '.paths.volumes',
  '.paths.alertQueue', '.paths.mailConfig', '.paths.relayCa',
  '.log.program', '.log.errorMarker',
  '.targets[].name', '.targets[].url',
  '.databases[].service', '.databases[].engine', '.databases[].host', '.databases[].port', '.databases[].database',
  '.databases[].user', '.databases[].passwordEnv', '.databases[].dumpFile',
  '.volumes[].name', '.volumes[].mountPath', '.volumes[].expectContent',
  '.alerts.to[]', '.alerts.from', '.alerts.label', '.alerts.host', '.alerts.port', '.alerts.security', '.alerts.user',
  '.alerts.passwordEnv', '.alerts.trustFile', '.alerts.retrySeconds[]', '.alerts.flushEveryMinutes',
] as const satisfies ReadonlyArray<PlanPath<BackupPlan>>;

/** A key of BackupPlan missing from PLAN_KEYS makes this type `false` and the line below fail to compile. */
type PLAN_KEYS_COMPLETE = Exclude<PlanPath<BackupPlan>, typeof PLAN_KEYS[number]> extends never ? true : false;
const PLAN_KEYS_COMPLETE: PLAN_KEYS_COMPLETE = true;

/** `<service>-<engine>.sql`: one dump per database, at the same path in every snapshot. */
export function dumpFileName(service: string, engine: DatabaseEngineName): string {
  return `${service}-${engine}.sql`;
}

/** Where the runner (and a restore's one-shot container) mounts a volume. */
export function volumeMountPath(name: string): string {
  return `${RUNNER_PATHS.volumes}/${name}`;
}

/** The runner's environment variable holding the password of its n-th database's dump account. */
export function databasePasswordEnv(index: number): string {
  return `SOCLE_DB_${index}_PASSWORD`;
}

/** The runner's environment variable holding the relay password its alerts authenticate with. */
export const RELAY_PASSWORD_ENV = 'SOCLE_SMTP_PASSWORD';

/** One line of the program's log, taken apart; undefined for lines it did not write (restic's). */
export interface RunnerLine {
  readonly time: string;
  readonly error: boolean;
  readonly message: string;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LINE = new RegExp(`^(\\S+) ${escapeRegExp(RUNNER_LOG.program)}: (?:(${escapeRegExp(RUNNER_LOG.errorMarker)}): )?(.*)$`);

export function parseRunnerLine(line: string): RunnerLine | undefined {
  const m = LINE.exec(line);
  return m ? { time: m[1], error: m[2] !== undefined, message: m[3] } : undefined;
}
