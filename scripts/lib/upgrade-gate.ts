// The deploy's upgrade gate. An app whose new image migrates its data (LimeSurvey's updatedb) is
// labelled with the command that accepts a backup (ContainerSpec.upgradeGate). When an apply would
// replace such a container's image, the deploy first takes a backup on that host and refuses to go
// on when it fails; the running, old container records the snapshot (the new image migrates only
// then); after the apply the new container must become healthy, or the deploy restores the
// database from that snapshot, puts the old image back, and says so.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABEL } from '../../core/labels.js';
import { StepError } from '../../core/errors.js';
import { BACKUP_PLAN_PATH, RUNNER_PROGRAM, RUNNER_ROLE, type BackupPlan } from '../../services/backup/plan.js';
import { DATABASE_ROLE } from '../../services/common/database.js';
import { generatedFileOf } from '../../stacks/host-stack.js';
import type { Output, RunResult } from './run.js';

/** Runs a command on the stack's host (over SSH), returning what it printed. */
export type OnHost = (remote: readonly string[]) => Promise<RunResult>;
type HostDocker = (args: readonly string[]) => Promise<RunResult>;
const dockerOn = (host: OnHost): HostDocker => (args) => host(['docker', ...args]);

export interface GatedUpgrade {
  readonly container: string;
  readonly service: string;
  /** The command in the container that records the backup, e.g. `socle-limesurvey authorize-upgrade`. */
  readonly authorize: readonly string[];
  /** docker_image resource (in cdk.tf.json) the container runs. */
  readonly imageResource: string;
  readonly fromImage: string;
  readonly toImage: string;
}

interface StackJson {
  resource?: { docker_container?: Record<string, any>; docker_image?: Record<string, any> };
}

const labelsOf = (c: any): Record<string, string> => Object.fromEntries((c.labels ?? []).map((l: any) => [l.label, l.value]));
const stackJson = (dir: string): StackJson => JSON.parse(readFileSync(join(dir, 'cdk.tf.json'), 'utf8'));

async function ok(docker: HostDocker, args: readonly string[], what: string): Promise<string> {
  const r = await docker(args);
  if (r.code !== 0) throw new StepError(`${what} failed (docker ${args.slice(0, 2).join(' ')}, exit ${r.code}):\n${r.stderr.trim().split('\n').slice(-6).join('\n')}`);
  return r.stdout.trim();
}

/**
 * The gated containers this plan replaces with another image than the one running: the container
 * exists and its image differs from the one the stack names now (by image id on the host).
 */
export async function pendingUpgrades(dir: string, replaced: readonly string[], host: OnHost): Promise<GatedUpgrade[]> {
  const docker = dockerOn(host);
  const json = stackJson(dir);
  const upgrades: GatedUpgrade[] = [];
  for (const c of Object.values<any>(json.resource?.docker_container ?? {})) {
    const labels = labelsOf(c);
    const gate = labels[LABEL.upgradeGate];
    if (!gate || !replaced.includes(c.name)) continue;
    const imageResource = /^\$\{docker_image\.([^.]+)\.image_id\}$/.exec(c.image)?.[1];
    const toImage = imageResource ? json.resource?.docker_image?.[imageResource]?.name : undefined;
    if (!imageResource || !toImage) continue;
    const running = await docker(['inspect', '--format', '{{.Image}}', c.name]);
    if (running.code !== 0) continue; // not there yet: a first install, nothing to migrate
    const runningId = running.stdout.trim();
    const wantedId = (await docker(['image', 'inspect', '--format', '{{.Id}}', toImage])).stdout.trim();
    if (wantedId === runningId) continue;
    const refs = await ok(docker, ['image', 'inspect', '--format', '{{range .RepoTags}}{{.}} {{end}}{{range .RepoDigests}}{{.}} {{end}}', runningId], `reading the image ${c.name} runs`);
    upgrades.push({ container: c.name, service: labels[LABEL.service], authorize: gate.split(' '), imageResource, fromImage: refs.split(' ')[0] || runningId, toImage });
  }
  return upgrades;
}

interface HostBackup {
  readonly runner: string;
  readonly plan: BackupPlan;
}

function backupOf(dir: string): HostBackup | undefined {
  for (const c of Object.values<any>(stackJson(dir).resource?.docker_container ?? {})) {
    if (labelsOf(c)[LABEL.role] !== RUNNER_ROLE) continue;
    const plan = generatedFileOf(c, BACKUP_PLAN_PATH);
    if (plan) return { runner: c.name, plan: JSON.parse(plan) as BackupPlan };
  }
  return undefined;
}

/** The newest snapshot of the first target that has one, as `socle-backup snapshots --json` lists them. */
function newestSnapshot(listing: string): { target: string; id: string } | undefined {
  for (const line of listing.split('\n').filter((l) => l.startsWith('{'))) {
    const row = JSON.parse(line) as { target: string; snapshots: Array<{ id: string; time: string }> | null };
    const newest = [...(row.snapshots ?? [])].sort((a, b) => a.time.localeCompare(b.time)).at(-1);
    if (newest) return { target: row.target, id: newest.id };
  }
  return undefined;
}

export interface Authorized extends GatedUpgrade {
  readonly runner: string;
  readonly target: string;
  readonly snapshot: string;
}

/** Backs the host up, then lets the running container record the snapshot. Throws, with nothing applied, when it cannot. */
export async function backUpBeforeUpgrade(dir: string, hostName: string, u: GatedUpgrade, host: OnHost, say: Output): Promise<Authorized> {
  const docker = dockerOn(host);
  const what = `${u.container} would move from ${u.fromImage} to ${u.toImage}, whose first start migrates ${u.service}'s data`;
  const backup = backupOf(dir);
  if (!backup) {
    throw new StepError(`${what}, and ${hostName} has no backup runner (services.backup in the city file): nothing was applied.\n`
      + '  fix: enable backups for this host and deploy once (an upgrade is never run without a backup taken just before), then deploy the new version');
  }
  say(`  upgrade of ${u.service}: ${u.fromImage} -> ${u.toImage}; backing up ${hostName} first (${backup.runner})`);
  const run = await docker(['exec', backup.runner, RUNNER_PROGRAM, 'run']);
  for (const line of run.stderr.split('\n').filter((l) => /done|ERROR|FAILED|unchanged|dump/.test(l))) say(`    ${line.trim()}`);
  if (run.code !== 0) {
    throw new StepError(`${what}: the backup taken first FAILED (exit ${run.code}), so nothing was applied and ${u.container} still runs ${u.fromImage}.\n`
      + `${run.stderr.trim().split('\n').slice(-6).join('\n')}\n  fix: npm run backup -- status names the cause; once a backup succeeds, deploy again`);
  }
  const newest = newestSnapshot(await ok(docker, ['exec', backup.runner, RUNNER_PROGRAM, 'snapshots', '--json'], 'listing the backup snapshots'));
  if (!newest) throw new StepError(`${what}: the backup reported success but no snapshot is listed; nothing was applied. Check npm run backup -- list, then deploy again`);
  await ok(docker, ['exec', u.container, ...u.authorize, newest.id], `recording backup ${newest.id} in ${u.container}`);
  say(`  backup ${newest.id.slice(0, 8)} on ${newest.target} taken; ${u.container} may now migrate`);
  return { ...u, runner: backup.runner, target: newest.target, snapshot: newest.id };
}

/** Waits for the upgraded container: healthy, or a reason it will not be. */
export async function awaitUpgraded(u: GatedUpgrade, host: OnHost, say: Output, timeoutSec = 900): Promise<{ healthy: true } | { healthy: false; reason: string }> {
  const docker = dockerOn(host);
  const started = Date.now();
  let lastSaid = 0;
  for (;;) {
    const r = await docker(['inspect', '--format', '{{.State.Status}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', u.container]);
    const [status, restarts, health] = r.stdout.trim().split(' ');
    const seconds = (Date.now() - started) / 1000;
    if (health === 'healthy') {
      say(`  ${u.container} is healthy on ${u.toImage} (${seconds.toFixed(0)} s)`);
      return { healthy: true };
    }
    // The entry point exits when a migration fails or is refused: a restart, or an exit, is final.
    if (r.code !== 0 || status === 'exited' || status === 'dead' || Number(restarts) > 0 || health === 'unhealthy') {
      const logs = await docker(['logs', '--tail', '20', u.container]);
      return { healthy: false, reason: `${u.container} is ${status}${health ? `, ${health}` : ''} after ${seconds.toFixed(0)} s; its last lines:\n${`${logs.stdout}${logs.stderr}`.trim().split('\n').map((l) => `    ${l}`).join('\n')}` };
    }
    if (seconds > timeoutSec) return { healthy: false, reason: `${u.container} is still ${health || status} after ${timeoutSec} s` };
    if (seconds - lastSaid >= 30) {
      say(`  waiting for ${u.container} to be healthy on the new image (${seconds.toFixed(0)} s, ${health || status})`);
      lastSaid = seconds;
    }
    await new Promise((r2) => setTimeout(r2, 2000));
  }
}

/**
 * After a failed upgrade: stops the new container, loads the service's databases from the snapshot
 * taken just before, and names the old image in the stack again so the next apply puts it back.
 * Returns what it restored.
 */
export async function restoreBeforeUpgrade(dir: string, u: Authorized, host: OnHost, say: Output): Promise<string[]> {
  const docker = dockerOn(host);
  await docker(['stop', u.container]);
  const backup = backupOf(dir)!;
  const json = stackJson(dir);
  const restored: string[] = [];
  for (const planned of backup.plan.databases.filter((d) => d.service === u.service)) {
    if (planned.engine !== 'mariadb') throw new StepError(`${u.service}'s ${planned.engine} database: restore it by hand from backup ${u.snapshot} (npm run backup -- restore --snapshot ${u.snapshot} --service ${u.service} --overwrite)`);
    const db = Object.values<any>(json.resource?.docker_container ?? {}).find((c) => labelsOf(c)[LABEL.service] === u.service && labelsOf(c)[LABEL.role] === DATABASE_ROLE)?.name;
    if (!db) throw new StepError(`no database container of ${u.service} in the stack: restore by hand (npm run backup -- restore --snapshot ${u.snapshot} --service ${u.service} --overwrite)`);
    say(`  restoring database ${planned.database} of ${u.service} from backup ${u.snapshot.slice(0, 8)} (taken before the upgrade)`);
    await ok(docker, ['exec', db, 'mariadb', '-e', `DROP DATABASE IF EXISTS \`${planned.database}\``], `emptying ${planned.database}`);
    // The dump streams out of the runner into the server, on the host itself.
    const load = await host(['bash', '-o', 'pipefail', '-c', `docker exec "$1" ${RUNNER_PROGRAM} dump "$2" "$3" "$4" | docker exec -i "$5" mariadb --binary-mode`,
      'restore', backup.runner, u.target, u.snapshot, planned.dumpFile, db]);
    if (load.code !== 0) throw new StepError(`loading ${planned.dumpFile} of backup ${u.snapshot} into ${db} failed: ${load.stderr.trim().split('\n').slice(-3).join(' ')}; restore by hand: npm run backup -- restore --snapshot ${u.snapshot} --service ${u.service} --overwrite`);
    restored.push(planned.database);
  }
  // The old image again, for the apply that follows (the city file still names the new one).
  json.resource!.docker_image![u.imageResource].name = u.fromImage;
  writeFileSync(join(dir, 'cdk.tf.json'), JSON.stringify(json, null, 2));
  return restored;
}
