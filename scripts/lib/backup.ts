// What `npm run backup` does on one city host, through that host's Docker engine: it drives the
// backup runner the stack declared (`socle-backup` in services/backup) and, for restores and
// drills, throwaway containers made from the runner's own image and settings. Nothing here holds
// a secret: the runner's environment is handed to those containers by name, never on a command line.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { $, type ProcessOutput } from 'zx';
import { LABEL } from '../../core/labels.js';
import { InputError, StepError } from '../../core/errors.js';
import { DATABASE_ROLE } from '../../services/common/database.js';
import {
  BACKUP_PLAN_PATH, ONE_SHOT_ROLE, RUNNER_PROGRAM, RUNNER_ROLE, parseRunnerLine, volumeMountPath,
  type BackupPlan, type PlannedDatabase,
} from '../../services/backup/plan.js';

type Json = Record<string, any>;

/** The absolute path of a program on PATH. */
function which(program: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, program))) return join(dir, program);
  throw new StepError(`${program} was not found on this machine: install it (Debian: apt-get install openssh-client)`);
}

/**
 * A Docker engine reached with the docker CLI (`ssh://user@host:port` or a local socket). Over SSH
 * the CLI runs `ssh` from PATH with options of its own only: `sshOptions` (the host's pinned key,
 * the deploying key, as the deploy uses them) reach it through an `ssh` of this process's own,
 * first on the CLI's PATH, that adds them and runs the real one.
 */
export class Engine {
  /** The environment the docker CLI runs in. */
  public readonly env: NodeJS.ProcessEnv;

  constructor(public readonly url: string, sshOptions: readonly string[] = []) {
    this.env = process.env;
    if (!url.startsWith('ssh://') || sshOptions.length === 0) return;
    const real = which('ssh');
    const dir = mkdtempSync(join(tmpdir(), 'socle-ssh-'));
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    writeFileSync(join(dir, 'ssh'), `#!/bin/sh\nexec ${quote(real)} ${sshOptions.map(quote).join(' ')} "$@"\n`, { mode: 0o755 });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    this.env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
  }

  /** Runs `docker -H url ...args`; `env` goes to the docker CLI only (passed on with `-e NAME`). */
  async docker(args: readonly string[], options: { env?: Record<string, string>; input?: string; quiet?: boolean; nothrow?: boolean } = {}): Promise<ProcessOutput> {
    const p = $({ quiet: options.quiet ?? true, nothrow: options.nothrow ?? false, env: { ...this.env, ...options.env }, input: options.input })`docker -H ${this.url} ${args}`;
    return p;
  }

  async inspect(kind: 'container' | 'volume' | 'network', name: string): Promise<Json> {
    return JSON.parse((await this.docker([kind, 'inspect', name])).stdout)[0];
  }
}

/** NAME -> value of a container's environment, from docker inspect. */
function environmentOf(inspect: Json): Record<string, string> {
  return Object.fromEntries((inspect.Config.Env as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** The backup runner container of a commune on one host, as docker inspect shows it. */
export interface Runner {
  readonly name: string;
  readonly image: string;
  /** NAME=value pairs of its environment (secrets included: handled by name only). */
  readonly env: Record<string, string>;
  /** The network that reaches the targets. */
  readonly egressNetwork: string;
  /** What the stack told it to do (services/backup/plan.ts), read back from the container. */
  readonly plan: BackupPlan;
  readonly targets: readonly string[];
  /** Short volume name (as in the plan) -> engine volume name. */
  readonly volumes: Record<string, string>;
}

export async function findRunner(engine: Engine, commune: string): Promise<Runner | undefined> {
  const names = (await engine.docker(['ps', '-a', '--filter', `label=${LABEL.commune}=${commune}`, '--filter', `label=${LABEL.role}=${RUNNER_ROLE}`, '--format', '{{.Names}}'])).stdout.trim().split('\n').filter(Boolean);
  if (names.length === 0) return undefined;
  const c = await engine.inspect('container', names[0]);
  if (!c.State.Running) throw new StepError(`the backup runner ${names[0]} is not running on ${engine.url}: start it (terraform apply, or docker start ${names[0]}) and retry`);
  const env = environmentOf(c);
  let egressNetwork = '';
  for (const net of Object.keys(c.NetworkSettings.Networks)) {
    if ((await engine.inspect('network', net)).Labels?.[LABEL.tier] === 'egress') egressNetwork = net;
  }
  const plan = await planOf(engine, names[0]);
  const volumes: Record<string, string> = {};
  for (const v of plan.volumes) {
    const mount = (c.Mounts as Json[]).find((m) => m.Type === 'volume' && m.Destination === v.mountPath);
    if (mount) volumes[v.name] = mount.Name;
  }
  return { name: names[0], image: c.Config.Image, env, egressNetwork, plan, volumes, targets: plan.targets.map((t) => t.name) };
}

/** The plan the stack uploaded into a running runner. */
async function planOf(engine: Engine, runner: string): Promise<BackupPlan> {
  const out = await engine.docker(['exec', runner, 'cat', BACKUP_PLAN_PATH], { nothrow: true });
  if (out.exitCode !== 0) throw new StepError(`cannot read the backup plan ${BACKUP_PLAN_PATH} in ${runner} (${out.stderr.trim()}): the runner predates this version of Socle; redeploy the stack (npm run deploy)`);
  return JSON.parse(out.stdout) as BackupPlan;
}

/** `socle-backup ARGS` inside the runner; output streamed unless `capture`. */
export async function inRunner(engine: Engine, runner: Runner, args: readonly string[], capture = false): Promise<ProcessOutput> {
  return engine.docker(['exec', runner.name, RUNNER_PROGRAM, ...args], { quiet: capture, nothrow: true });
}

/**
 * A one-shot container from the runner's image with the runner's environment (targets, key, SSH
 * key file), on its egress network, as root: restored files keep their owners.
 */
async function oneShot(engine: Engine, runner: Runner, mounts: Record<string, string>, args: readonly string[], options: { input?: string; nothrow?: boolean; quiet?: boolean } = {}): Promise<ProcessOutput> {
  const envFlags = Object.keys(runner.env).flatMap((k) => ['-e', k]);
  const mountFlags = Object.entries(mounts).flatMap(([volume, path]) => ['--mount', `type=volume,src=${volume},dst=${path}`]);
  return engine.docker(['run', '--rm', '--user', '0', '--network', runner.egressNetwork, '--label', `${LABEL.role}=${ONE_SHOT_ROLE}`, ...envFlags, ...mountFlags, runner.image, RUNNER_PROGRAM, ...args], { env: runner.env, nothrow: options.nothrow, quiet: options.quiet ?? true });
}

export interface SnapshotContents {
  readonly id: string;
  readonly short_id: string;
  readonly time: string;
  /** Short volume names. */
  readonly volumes: readonly string[];
  /** Dump file names (PlannedDatabase.dumpFile). */
  readonly dumps: readonly string[];
}

async function snapshotContents(engine: Engine, runner: Runner, target: string, snapshot: string): Promise<SnapshotContents> {
  const out = await inRunner(engine, runner, ['contents', target, snapshot], true);
  if (out.exitCode !== 0) throw new StepError(`cannot read snapshot ${snapshot} on target ${target}:\n${errorLines(out.stderr)}`);
  return JSON.parse(out.stdout);
}

/** The lines socle-backup marked as errors (or the last lines when none is marked), without their time and program. */
export function errorLines(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const marked = lines.filter((l) => parseRunnerLine(l)?.error);
  const shown = marked.length ? marked.map((l) => `ERROR: ${parseRunnerLine(l)!.message}`) : lines.slice(-3).map((l) => parseRunnerLine(l)?.message ?? l);
  return shown.map((l) => `  ${l}`).join('\n');
}

/** A database server of the stack, as its container shows it. */
export interface DatabaseContainer {
  readonly name: string;
  readonly service: string;
  readonly engine: 'mariadb' | 'postgres';
  readonly database: string;
  /** Owner of the database (PostgreSQL: objects restored are created as this role). */
  readonly owner: string;
  readonly inspect: Json;
}

async function findDatabases(engine: Engine, commune: string): Promise<DatabaseContainer[]> {
  const names = (await engine.docker(['ps', '-a', '--filter', `label=${LABEL.commune}=${commune}`, '--filter', `label=${LABEL.role}=${DATABASE_ROLE}`, '--format', '{{.Names}}'])).stdout.trim().split('\n').filter(Boolean);
  const out: DatabaseContainer[] = [];
  for (const name of names) {
    const c = await engine.inspect('container', name);
    const env = environmentOf(c);
    const service = c.Config.Labels[LABEL.service];
    if (env.MARIADB_DATABASE) out.push({ name, service, engine: 'mariadb', database: env.MARIADB_DATABASE, owner: env.MARIADB_USER, inspect: c });
    else if (env.POSTGRES_DB) out.push({ name, service, engine: 'postgres', database: env.POSTGRES_DB, owner: env.POSTGRES_USER, inspect: c });
  }
  return out;
}

/** Exact row counts of every table, through the server's local admin account. */
async function rowCounts(engine: Engine, db: DatabaseContainer, container = db.name): Promise<Record<string, number>> {
  const sql = db.engine === 'mariadb'
    ? `SELECT CONCAT('SELECT ''', table_name, ''', COUNT(*) FROM \`', table_schema, '\`.\`', table_name, '\`;') FROM information_schema.tables WHERE table_schema = '${db.database}' AND table_type = 'BASE TABLE' ORDER BY table_name`
    : `SELECT table_schema || '.' || table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1`;
  // MariaDB: the first query writes one COUNT query per table, the second runs them.
  const command = db.engine === 'mariadb'
    ? ['sh', '-c', 'mariadb -N -B -e "$1" | mariadb -N -B', 'sh', sql]
    : ['psql', '-U', 'postgres', '-d', db.database, '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql];
  const out = await engine.docker(['exec', container, ...command]);
  return Object.fromEntries(out.stdout.trim().split('\n').filter(Boolean).map((l) => {
    const [table, count] = l.split('\t');
    return [table, Number(count)];
  }));
}

/** Empties a database so a dump can be loaded into it (restore --overwrite); `dumpUser` may connect again. */
async function emptyDatabase(engine: Engine, db: DatabaseContainer, dumpUser: string | undefined): Promise<void> {
  if (db.engine === 'mariadb') {
    // The dump recreates the database (with its character set); grants are kept by the server.
    await engine.docker(['exec', db.name, 'mariadb', '-e', `DROP DATABASE IF EXISTS \`${db.database}\``]);
  } else {
    await engine.docker(['exec', db.name, 'psql', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q',
      '-c', `DROP DATABASE IF EXISTS "${db.database}" WITH (FORCE)`, '-c', `CREATE DATABASE "${db.database}" OWNER "${db.owner}"`, '-c', `REVOKE ALL ON DATABASE "${db.database}" FROM PUBLIC`,
      // The backup runner's read-only account (services/postgres/entrypoint.sh) may connect again.
      ...(dumpUser && dumpUser !== db.owner ? ['-c', `DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${dumpUser}') THEN GRANT CONNECT ON DATABASE "${db.database}" TO "${dumpUser}"; END IF; END $$`] : [])]);
  }
}

/**
 * Streams one dump of a snapshot into a database server: `restic dump` in a one-shot container,
 * piped into the server's client in `container`. PostgreSQL objects are created as the owner role.
 */
async function loadDump(engine: Engine, runner: Runner, target: string, snapshotId: string, db: DatabaseContainer, container: string): Promise<void> {
  const file = plannedDumpOf(runner, db)?.dumpFile;
  if (!file) throw new StepError(`the backup runner ${runner.name} does not dump ${db.service} (${db.engine}): redeploy the stack, then retry`);
  const client = db.engine === 'mariadb'
    ? ['mariadb', '--binary-mode']
    : ['psql', '-U', 'postgres', '-d', db.database, '-q', '-v', 'ON_ERROR_STOP=1', '-c', `SET ROLE "${db.owner}"`, '-f', '-'];
  const envFlags = Object.keys(runner.env).flatMap((k) => ['-e', k]);
  const env = { ...engine.env, ...runner.env };
  const source = $({ quiet: true, nothrow: true, env })`docker -H ${engine.url} run --rm --user 0 --network ${runner.egressNetwork} ${envFlags} ${runner.image} ${RUNNER_PROGRAM} dump ${target} ${snapshotId} ${file}`;
  const sink = source.pipe($({ quiet: true, nothrow: true, env: engine.env })`docker -H ${engine.url} exec -i ${container} ${client}`);
  const [src, dst] = await Promise.all([source, sink]);
  if (src.exitCode !== 0) throw new StepError(`reading ${file} from snapshot ${snapshotId} failed:\n${errorLines(src.stderr)}`);
  if (dst.exitCode !== 0) throw new StepError(`loading ${file} into ${container} failed: ${dst.stderr.trim().split('\n').slice(-3).join(' ')}`);
}

/** The runner's plan entry for a database server, if the runner dumps it. */
function plannedDumpOf(runner: Runner, db: DatabaseContainer): PlannedDatabase | undefined {
  return runner.plan.databases.find((p) => p.service === db.service && p.engine === db.engine);
}

/** Volume name -> where the runner's program expects it, in a container restoring those volumes. */
function restoreMounts(volumes: readonly string[], engineName: (volume: string) => string): Record<string, string> {
  return Object.fromEntries(volumes.map((v) => [engineName(v), volumeMountPath(v)]));
}

/** Files and sizes in volumes (for the overwrite guard). */
async function volumeFileCounts(engine: Engine, runner: Runner, volumes: readonly string[]): Promise<Record<string, number>> {
  if (volumes.length === 0) return {};
  const mounts = Object.fromEntries(volumes.map((v) => [v, `/v/${v}`]));
  const out = await engine.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', ...Object.entries(mounts).flatMap(([v, p]) => ['--mount', `type=volume,src=${v},dst=${p},readonly`]), runner.image,
    '-c', 'for d in /v/*; do printf "%s %s\\n" "${d#/v/}" "$(find "$d" -mindepth 1 -type f | wc -l)"; done']);
  return Object.fromEntries(out.stdout.trim().split('\n').map((l) => l.split(' ')).map(([v, n]) => [v, Number(n)]));
}

/** `sha256  relative/path` of every file of each volume (mounted read-only, no network). */
async function volumeChecksums(engine: Engine, image: string, volumes: readonly string[]): Promise<Record<string, Record<string, string>>> {
  // Two volumes at a time: hashing is CPU-bound and the reference machine has two cores.
  const result: Record<string, Record<string, string>> = {};
  for (let i = 0; i < volumes.length; i += 2) {
    await Promise.all(volumes.slice(i, i + 2).map(async (volume) => {
      const out = await engine.docker(['run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'sh', '--mount', `type=volume,src=${volume},dst=/v,readonly`, image,
        '-c', 'cd /v && find . -type f -print0 | sort -z | xargs -0 -r sha256sum']);
      result[volume] = Object.fromEntries(out.stdout.split('\n').filter(Boolean).map((l) => [l.slice(66).replace(/^\.\//, ''), l.slice(0, 64)]));
    }));
  }
  return result;
}

async function containersUsing(engine: Engine, commune: string, filter: string): Promise<string[]> {
  const out = await engine.docker(['ps', '--filter', `label=${LABEL.commune}=${commune}`, '--filter', filter, '--format', '{{.Names}}']);
  return out.stdout.trim().split('\n').filter(Boolean);
}

export interface RestoreOptions {
  readonly commune: string;
  readonly target: string;
  readonly snapshot: string;
  readonly service?: string;
  readonly overwrite: boolean;
  readonly say: (line: string) => void;
}

export interface RestoreResult {
  readonly snapshot: SnapshotContents;
  readonly volumes: readonly string[];
  readonly databases: readonly string[];
  readonly seconds: number;
}

/**
 * Puts a snapshot's volumes and database dumps back into the live stack (all of it, or one
 * service). Refuses, before touching anything, to replace data unless told to; stops the
 * containers using what it replaces and starts them again afterwards.
 */
export async function restore(engine: Engine, runner: Runner, o: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const snap = await snapshotContents(engine, runner, o.target, o.snapshot);
  const volumeLabels = new Map<string, string>();
  for (const short of snap.volumes) {
    const name = runner.volumes[short];
    if (!name) throw new InputError(`snapshot ${snap.short_id} holds volume ${short}, which the runner does not back up any more: restore it by hand with restic, or redeploy the stack that declares it`);
    volumeLabels.set(short, (await engine.inspect('volume', name)).Labels?.[LABEL.service] ?? '');
  }
  const databases = await findDatabases(engine, o.commune);
  const plannedDump = (file: string) => runner.plan.databases.find((p) => p.dumpFile === file);
  const services = new Set([...volumeLabels.values(), ...snap.dumps.map((f) => plannedDump(f)?.service ?? f)]);
  if (o.service && !services.has(o.service)) throw new InputError(`snapshot ${snap.short_id} holds nothing of service "${o.service}"; it holds: ${[...services].sort().join(', ')}`);
  const volumes = snap.volumes.filter((v) => !o.service || volumeLabels.get(v) === o.service);
  const dbs = snap.dumps.filter((f) => !o.service || plannedDump(f)?.service === o.service).map((f) => {
    const planned = plannedDump(f);
    if (!planned) throw new InputError(`snapshot ${snap.short_id} holds dump ${f}, of a database the runner does not dump any more: restore it by hand with restic, or redeploy the stack that declares it`);
    const db = databases.find((d) => d.service === planned.service && d.engine === planned.engine);
    if (!db) throw new InputError(`snapshot ${snap.short_id} holds ${f}, but no database container of that service runs here: deploy the stack first, then restore`);
    return db;
  });

  // Guard: nothing is replaced unless the operator said so.
  const files = await volumeFileCounts(engine, runner, volumes.map((v) => runner.volumes[v]));
  const occupied = [
    ...volumes.filter((v) => files[runner.volumes[v]] > 0).map((v) => `volume ${v} (${files[runner.volumes[v]]} files)`),
    ...(await Promise.all(dbs.map(async (d) => [d, Object.keys(await rowCounts(engine, d)).length] as const))).filter(([, n]) => n > 0).map(([d, n]) => `database ${d.service} (${n} tables)`),
  ];
  if (occupied.length && !o.overwrite) {
    throw new InputError(`restore would replace data that is there now: ${occupied.join(', ')}. Nothing was changed. Check the snapshot (npm run backup -- list), then rerun with --overwrite to replace it`);
  }

  // Stop what writes to the data being replaced, except the database servers themselves.
  const users = new Set<string>();
  for (const v of volumes) for (const n of await containersUsing(engine, o.commune, `volume=${runner.volumes[v]}`)) users.add(n);
  for (const d of dbs) for (const n of await containersUsing(engine, o.commune, `label=${LABEL.service}=${d.service}`)) if (n !== d.name) users.add(n);
  users.delete(runner.name);
  if (users.size) {
    o.say(`stopping ${[...users].join(', ')} while their data is replaced`);
    await engine.docker(['stop', ...users]);
  }
  try {
    if (volumes.length) {
      o.say(`restoring volumes ${volumes.join(', ')} from snapshot ${snap.short_id} (${snap.time})`);
      const out = await oneShot(engine, runner, restoreMounts(volumes, (v) => runner.volumes[v]), ['restore-volumes', o.target, snap.id, ...volumes], { nothrow: true });
      if (out.exitCode !== 0) throw new StepError(`restoring volumes failed:\n${errorLines(out.stderr)}`);
    }
    for (const db of dbs) {
      o.say(`restoring database ${db.service} (${db.engine})`);
      if (o.overwrite) await emptyDatabase(engine, db, plannedDumpOf(runner, db)?.user);
      await loadDump(engine, runner, o.target, snap.id, db, db.name);
    }
  } finally {
    if (users.size) {
      o.say(`starting ${[...users].join(', ')} again`);
      await engine.docker(['start', ...users], { nothrow: true });
    }
  }
  return { snapshot: snap, volumes, databases: dbs.map((d) => d.service), seconds: (Date.now() - started) / 1000 };
}

export interface DrillOptions {
  readonly commune: string;
  readonly host: string;
  readonly target: string;
  readonly snapshot: string;
  readonly say: (line: string) => void;
}

export interface TableComparison { readonly table: string; readonly live: number | null; readonly restored: number | null; readonly equal: boolean }
export interface VolumeComparison { readonly volume: string; readonly files: number; readonly restoredFiles: number; readonly differing: readonly string[]; readonly equal: boolean }

export interface DrillReport {
  readonly commune: string;
  readonly host: string;
  readonly target: string;
  readonly snapshot: { readonly id: string; readonly time: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Recovery time: from the start of the drill to every database answering with its data restored. */
  readonly rtoSeconds: number;
  /** Recovery point: age of the restored data when the drill started. */
  readonly rpoSeconds: number;
  readonly databases: ReadonlyArray<{ readonly service: string; readonly engine: string; readonly tables: readonly TableComparison[]; readonly equal: boolean }>;
  readonly volumes: readonly VolumeComparison[];
  readonly identical: boolean;
}

/**
 * Restores a snapshot into throwaway containers and volumes on an isolated network, starts the
 * databases from it, compares them and the files with the live ones, then removes everything it
 * made (also on failure).
 */
export async function drill(engine: Engine, runner: Runner, o: DrillOptions): Promise<DrillReport> {
  const started = new Date();
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-').toLowerCase();
  const prefix = `${o.commune}-drill-${stamp}`;
  const drillLabel = ['--label', `fr.socle.drill=${prefix}`];
  const snap = await snapshotContents(engine, runner, o.target, o.snapshot);
  const databases = (await findDatabases(engine, o.commune)).filter((d) => snap.dumps.includes(plannedDumpOf(runner, d)?.dumpFile ?? ''));
  const made = { containers: [] as string[], volumes: [] as string[], network: '' };
  try {
    o.say(`[1/4] isolated network and empty volumes for snapshot ${snap.short_id} (${snap.time})`);
    made.network = prefix;
    await engine.docker(['network', 'create', '--internal', ...drillLabel, made.network]);
    const drillVolume = (short: string) => `${prefix}-${short}`;
    for (const v of snap.volumes) {
      await engine.docker(['volume', 'create', ...drillLabel, drillVolume(v)]);
      made.volumes.push(drillVolume(v));
    }

    o.say(`[2/4] restoring ${snap.volumes.length} volumes and starting ${databases.length} databases`);
    const restoreVolumes = snap.volumes.length
      ? oneShot(engine, runner, restoreMounts(snap.volumes, drillVolume), ['restore-volumes', o.target, snap.id, ...snap.volumes], { nothrow: true })
      : undefined;
    const servers = await Promise.all(databases.map(async (db) => {
      const name = `${prefix}-${db.service}-db`;
      const data = `${prefix}-${db.service}-${db.engine}-data`;
      await engine.docker(['volume', 'create', ...drillLabel, data]);
      made.volumes.push(data);
      await startLike(engine, db.inspect, name, data, made.network, drillLabel);
      made.containers.push(name);
      return { db, name };
    }));
    await Promise.all(servers.map(({ name }) => waitHealthy(engine, name, 180)));
    // The databases load side by side (each server is its own process).
    await Promise.all(servers.map(({ db, name }) => {
      o.say(`      loading ${db.service} (${db.engine})`);
      return loadDump(engine, runner, o.target, snap.id, db, name);
    }));
    if (restoreVolumes) {
      const out = await restoreVolumes;
      if (out.exitCode !== 0) throw new StepError(`restoring volumes failed:\n${errorLines(out.stderr)}`);
    }
    const rtoSeconds = (Date.now() - started.getTime()) / 1000;

    o.say('[3/4] comparing row counts and file checksums with the live data');
    const dbResults = [];
    for (const { db, name } of servers) {
      const [live, restored] = await Promise.all([rowCounts(engine, db), rowCounts(engine, db, name)]);
      const tables = [...new Set([...Object.keys(live), ...Object.keys(restored)])].sort().map((table) => ({
        table, live: live[table] ?? null, restored: restored[table] ?? null, equal: live[table] === restored[table],
      }));
      dbResults.push({ service: db.service, engine: db.engine, tables, equal: tables.every((t) => t.equal) });
    }
    const volumeResults: VolumeComparison[] = [];
    const sums = await volumeChecksums(engine, runner.image, snap.volumes.flatMap((v) => [runner.volumes[v], drillVolume(v)]));
    for (const v of snap.volumes) {
      const [live, restored] = [sums[runner.volumes[v]], sums[drillVolume(v)]];
      const paths = [...new Set([...Object.keys(live), ...Object.keys(restored)])].sort();
      const differing = paths.filter((p) => live[p] !== restored[p]);
      volumeResults.push({ volume: v, files: Object.keys(live).length, restoredFiles: Object.keys(restored).length, differing, equal: differing.length === 0 });
    }
    o.say('[4/4] removing the drill containers, volumes and network');
    return {
      commune: o.commune, host: o.host, target: o.target, snapshot: { id: snap.id, time: snap.time },
      startedAt: started.toISOString(), finishedAt: new Date().toISOString(), rtoSeconds,
      rpoSeconds: Math.max(0, (started.getTime() - Date.parse(snap.time)) / 1000),
      databases: dbResults, volumes: volumeResults,
      identical: dbResults.every((d) => d.equal) && volumeResults.every((v) => v.equal),
    };
  } finally {
    if (made.containers.length) await engine.docker(['rm', '--force', '--volumes', ...made.containers], { nothrow: true });
    if (made.network) await engine.docker(['network', 'rm', made.network], { nothrow: true });
    if (made.volumes.length) await engine.docker(['volume', 'rm', '--force', ...made.volumes], { nothrow: true });
  }
}

/** Starts a copy of a database container (same image, settings and environment) on fresh data. */
async function startLike(engine: Engine, inspect: Json, name: string, dataVolume: string, network: string, labels: readonly string[]): Promise<void> {
  const cfg = inspect.Config;
  const host = inspect.HostConfig;
  const env = environmentOf(inspect);
  const dataPath = (inspect.Mounts as Json[]).find((m) => m.Type === 'volume')?.Destination;
  if (!dataPath) throw new StepError(`${inspect.Name}: no data volume found; cannot copy it for the drill`);
  const flags = ['--name', name, '--network', network, ...labels, '--mount', `type=volume,src=${dataVolume},dst=${dataPath}`, ...Object.keys(env).flatMap((k) => ['-e', k])];
  if (cfg.User) flags.push('--user', cfg.User);
  if (host.ReadonlyRootfs) flags.push('--read-only');
  for (const [path, opts] of Object.entries<string>(host.Tmpfs ?? {})) flags.push('--tmpfs', opts ? `${path}:${opts}` : path);
  if (host.Memory) flags.push('--memory', String(host.Memory));
  const hc = cfg.Healthcheck?.Test as string[] | undefined;
  if (hc?.[0] === 'CMD-SHELL') flags.push('--health-cmd', hc[1], '--health-interval', '2s');
  const entrypoint = (cfg.Entrypoint ?? []) as string[];
  if (entrypoint.length) flags.push('--entrypoint', entrypoint[0]);
  await engine.docker(['run', '-d', ...flags, cfg.Image, ...entrypoint.slice(1), ...(cfg.Cmd ?? [])], { env });
}

async function waitHealthy(engine: Engine, name: string, timeoutSec: number): Promise<void> {
  const until = Date.now() + timeoutSec * 1000;
  while (Date.now() < until) {
    const state = (await engine.docker(['inspect', '--format', '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', name], { nothrow: true })).stdout.trim();
    if (state === 'running healthy') return;
    if (state.startsWith('exited')) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const logs = (await engine.docker(['logs', '--tail', '10', name], { nothrow: true })).stderr;
  throw new StepError(`drill database ${name} did not become healthy:\n${logs}`);
}

/** The report in French, for the register and the auditors. */
export function drillMarkdown(r: DrillReport): string {
  const fmt = (s: number) => (s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);
  const lines = [
    `# Exercice de restauration — ${r.commune}, hôte ${r.host}`,
    '',
    `- Date : ${r.startedAt} (fin ${r.finishedAt})`,
    `- Cible de sauvegarde : ${r.target}`,
    `- Instantané restauré : ${r.snapshot.id.slice(0, 8)} du ${r.snapshot.time}`,
    `- **Durée de restauration (RTO mesuré) : ${fmt(r.rtoSeconds)}**`,
    `- **Âge des données restaurées (RPO) : ${fmt(r.rpoSeconds)}**`,
    `- Résultat : ${r.identical ? '**identique** aux données en service' : '**différences** avec les données en service (voir ci-dessous ; des données modifiées après l\'instantané en sont une cause normale)'}`,
    '',
    'La restauration a eu lieu dans des conteneurs et volumes jetables, sur un réseau isolé, puis a été supprimée.',
    '',
    '## Bases de données (nombre de lignes)',
    '',
    '| Service | Moteur | Table | En service | Restaurée | |',
    '|---|---|---|---:|---:|---|',
    ...r.databases.flatMap((d) => d.tables.map((t) => `| ${d.service} | ${d.engine} | ${t.table} | ${t.live ?? '—'} | ${t.restored ?? '—'} | ${t.equal ? 'identique' : '**différent**'} |`)),
    '',
    '## Volumes (empreintes SHA-256 des fichiers)',
    '',
    '| Volume | Fichiers en service | Fichiers restaurés | Fichiers différents | |',
    '|---|---:|---:|---:|---|',
    ...r.volumes.map((v) => `| ${v.volume} | ${v.files} | ${v.restoredFiles} | ${v.differing.length} | ${v.equal ? 'identique' : '**différent**'} |`),
    '',
  ];
  const differing = r.volumes.filter((v) => v.differing.length);
  if (differing.length) lines.push('### Fichiers différents', '', ...differing.flatMap((v) => v.differing.slice(0, 50).map((p) => `- ${v.volume} : \`${p}\``)), '');
  return lines.join('\n');
}

/**
 * Mails a report to the city's alert addresses from the runner (`socle-backup notify`): through the
 * host's mail gateway, queued on the runner's volume when the relay cannot take it.
 */
export async function notifyFromRunner(engine: Engine, runner: Runner, subject: string, body: string): Promise<{ sent: boolean; problem?: string }> {
  const out = await engine.docker(['exec', '-i', runner.name, RUNNER_PROGRAM, 'notify', subject], { input: body, nothrow: true });
  if (out.exitCode === 0) return { sent: true };
  return { sent: false, problem: `the report to ${runner.plan.alerts.to.join(', ')} was not sent:\n${errorLines(out.stderr)}` };
}

/** A status report in French, for the city's alert mailboxes. */
export function statusMail(host: string, rows: ReadonlyArray<{ target: string; state: string; time: string | null; ageSeconds: number | null; maxAgeHours: number; message: string }>): { subject: string; body: string } {
  const bad = rows.filter((r) => r.state !== 'ok');
  const state: Record<string, string> = { ok: 'à jour', stale: 'TROP ANCIENNE', none: 'AUCUNE', unreachable: 'INJOIGNABLE' };
  return {
    subject: bad.length ? `État des sauvegardes : ${bad.length} problème(s)` : 'État des sauvegardes : à jour',
    body: [
      `État des sauvegardes de l'hôte ${host}, relevé le ${new Date().toISOString()} :`,
      '',
      ...rows.map((r) => `- ${r.target} : ${state[r.state] ?? r.state}${r.time ? `, dernière sauvegarde complète ${r.time} (il y a ${((r.ageSeconds ?? 0) / 3600).toFixed(1)} h)` : ''} ; seuil ${r.maxAgeHours} h${r.message ? `\n  ${r.message}` : ''}`),
      '',
      bad.length ? 'Que faire : suivre l\'indication donnée pour chaque cible, puis relancer npm run backup -- run.' : 'Rien à faire.',
      '',
      '-- ',
      'Message automatique de Socle (npm run backup -- status --notify).',
    ].join('\n'),
  };
}
