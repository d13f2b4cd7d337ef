// The test city (tests/fixtures/ville-test.yaml) made ready for the local engine: a test CA and
// certificate in a temporary TLS directory, the test host's SSH settings, then the real synth (the
// test cities keep Tor off the Tor network: services.onion.offline).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { synthesize } from '../../stacks/synth.js';
import { ROOT, tempDir } from '../helpers.js';
import { DEPLOY_KEY, KNOWN_HOSTS } from './test-host.js';
import { MTA } from './mta.js';




/** A test CA and a certificate for every name of the test city, as the city would provide them. */
async function makeCertificates(dir: string): Promise<void> {
  const q = $({ quiet: true });
  await q`openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=Ville-Test-CA -keyout ${join(dir, 'ca.key')} -out ${join(dir, 'ca.pem')}`;
  await q`openssl req -newkey rsa:2048 -nodes -subj /CN=ville-test.fr -keyout ${join(dir, 'privkey.pem')} -out ${join(dir, 'server.csr')}`;
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:ville-test.fr,DNS:*.ville-test.fr\n');
  await q`openssl x509 -req -in ${join(dir, 'server.csr')} -CA ${join(dir, 'ca.pem')} -CAkey ${join(dir, 'ca.key')} -CAcreateserial -days 2 -extfile ${join(dir, 'san.ext')} -out ${join(dir, 'cert.pem')}`;
  writeFileSync(join(dir, 'fullchain.pem'), readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(join(dir, 'ca.pem'), 'utf8'));
  // nginx runs as www-data: a test key may be world-readable; a city's is readable by uid 33 only.
  await q`chmod 0755 ${dir}`;
  await q`chmod 0644 ${join(dir, 'privkey.pem')} ${join(dir, 'fullchain.pem')}`;
}

/** The values behind the test cities' secret references (environment variables of the deploy). */
export const TEST_SECRETS = {
  SOCLE_TEST_SMTP_PASSWORD: 'test-smtp-Sentinel-4c1d',
  SOCLE_TEST_RESTIC_PASSWORD: 'test-restic-Sentinel-8e2a',
  SOCLE_TEST_STATE_PASSPHRASE: 'test-state-passphrase-Sentinel-17f3',
} as const;

export interface TestCity {
  /** The first stack's cdk.tf.json. */
  readonly stack: Record<string, any>;
  readonly stackName: string;
  /** The city file written (placeholders filled). */
  readonly config: string;
  readonly outdir: string;
  readonly stateDir: string;
  readonly tls: string;
  /** The backup SSH key pair (private key path; .pub beside it). */
  readonly backupKey: string;
  /** Values of the stack's sensitive variables, by variable name. */
  readonly variables: Record<string, string>;
}

/**
 * Writes a test city (default: tests/fixtures/ville-test.yaml, changed by `edit`) with its TLS
 * directory, the test host's SSH settings and a state directory, and synthesizes it once (the
 * deploy synthesizes again into the same output).
 */
/**
 * The runner's own daemon runs the night at `backup.schedule` (03:15 by default): a suite running at
 * that minute would see a night it did not start (a second alert, a snapshot more). Test cities are
 * scheduled twelve hours from now; the schedule test starts its own daemon at the next minute.
 */
function scheduleFarFromNow(): string {
  const at = new Date(Date.now() + 12 * 3600_000);
  return `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
}

export async function prepareTestCity(fixture = 'ville-test', edit: (yaml: string) => string = (y) => y): Promise<TestCity> {
  const tls = tempDir('socle-tls-');
  await makeCertificates(tls);
  const backupKey = join(tempDir(), 'backup');
  await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${''} -C socle-backup -f ${backupKey}`;
  const variables = {
    smtp_password: TEST_SECRETS.SOCLE_TEST_SMTP_PASSWORD, restic_password: TEST_SECRETS.SOCLE_TEST_RESTIC_PASSWORD,
    backup_ssh_private_key: readFileSync(backupKey, 'utf8'), backup_authorized_keys: readFileSync(`${backupKey}.pub`, 'utf8'),
  };
  const stateDir = tempDir('socle-state-');
  const config = join(tempDir(), `${fixture}.yaml`);
  const text = readFileSync(join(ROOT, `tests/fixtures/${fixture}.yaml`), 'utf8')
    .replace('TLS_DIRECTORY', tls).replace('KNOWN_HOSTS', KNOWN_HOSTS).replace('DEPLOY_KEY', DEPLOY_KEY).replace('STATE_DIRECTORY', stateDir)
    .replace('MTA_CA', MTA.caFile)
    .replace(/^  backup:\n(?!    schedule:)/m, `  backup:\n    schedule: "${scheduleFarFromNow()}"\n`);
  writeFileSync(config, edit(text));
  const outdir = join(tempDir(), 'cdktf.out');
  synthesize({ config, outdir });
  const [stackName] = readdirSync(join(outdir, 'stacks'));
  const stack = JSON.parse(readFileSync(join(outdir, 'stacks', stackName, 'cdk.tf.json'), 'utf8'));
  return { stack, stackName, config, outdir, stateDir, tls, backupKey, variables };
}

/**
 * An SFTP backup target as a city's NAS would offer: Socle's SFTP image with the stack's settings
 * (read-only, non-root, key only, repositories on a volume), reachable as `alias` on `network`.
 */
export async function startSftpTarget(options: { name: string; network: string; alias: string; publicKey: string; image: string }): Promise<void> {
  await $({ quiet: true, nothrow: true })`docker rm --force --volumes ${options.name}`;
  await $({ quiet: true, env: { ...process.env, SOCLE_FILE_0: options.publicKey } })`docker run -d --name ${options.name} --network ${options.network} --network-alias ${options.alias} --read-only --tmpfs /tmp --tmpfs /run/sshd --tmpfs /etc/socle:mode=1777 --cap-drop ALL --mount type=volume,dst=/srv/restic --mount type=volume,dst=/etc/ssh/socle/keys -e SOCLE_FILE_0_PATH=/etc/socle/authorized_keys -e SOCLE_FILE_0 ${options.image}`;
}

/**
 * Lets a PostgreSQL server reach the state of a quiet night: vacuum and statistics done, a
 * checkpoint, then its WAL position still for 16 s (it logs a snapshot of running transactions up
 * to 15 s after the last write). Backups keep the dump of a database whose position has not moved.
 */
export async function settlePostgres(container: string, database: string): Promise<void> {
  const q = $({ quiet: true });
  await q`docker exec ${container} psql -U postgres -d ${database} -q -c ${'VACUUM ANALYZE'} -c ${'CHECKPOINT'}`;
  let [lsn, since] = ['', Date.now()];
  while (Date.now() - since < 16_000) {
    const now = (await q`docker exec ${container} psql -U postgres -Atc ${'SELECT pg_current_wal_insert_lsn()'}`).stdout.trim();
    if (now !== lsn) [lsn, since] = [now, Date.now()];
    await new Promise((r) => setTimeout(r, 2000));
  }
}
