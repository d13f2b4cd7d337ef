// FOR TESTS ONLY. Cities deploy with terraform or OpenTofu (see README). Docker Hub and the
// Terraform registry are out of reach here, so this runner plays the part of the Docker provider:
// it reads the docker_network, docker_volume, docker_image and docker_container resources of a
// synthesized cdk.tf.json and creates them on the local engine with the docker CLI, honouring
// every attribute the stacks use. Anything it does not understand is an error, not a silent skip.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from 'zx';
import { IMAGE_CATALOG } from '../../services/common/images.js';

const q = $({ quiet: true });
/** Names of the upstream images a city mirrors (LimeSurvey, Matomo, the consultation apps). */
const MIRRORED_NAMES = Object.values(IMAGE_CATALOG).filter((e) => e.origin === 'mirrored').map((e) => e.name);
const qn = $({ quiet: true, nothrow: true });

/** Attributes of docker_container this runner turns into docker CLI flags. */
const CONTAINER_ATTRIBUTES = new Set([
  '//', 'name', 'image', 'command', 'entrypoint', 'env', 'hostname', 'network_mode', 'networks_advanced', 'volumes', 'mounts',
  'tmpfs', 'healthcheck', 'memory', 'memory_swap', 'user', 'read_only', 'capabilities', 'security_opts', 'restart', 'init',
  'must_run', 'log_driver', 'log_opts', 'ports', 'host', 'sysctls', 'upload', 'labels', 'depends_on', 'dns',
]);

export interface RunnerOptions {
  /** Values of the stack's sensitive variables. */
  readonly variables: Readonly<Record<string, string>>;
  /**
   * Egress-tier networks become internal, except the one carrying published ports (bound to
   * loopback by the test city): test containers never reach anything outside the machine.
   * @default true
   */
  readonly isolateEgress?: boolean;
}

export interface RunReport {
  readonly started: string[];
  /** Containers left out because their image needs an upstream download (not present locally). */
  readonly skipped: Array<{ readonly name: string; readonly image: string }>;
}

type Json = Record<string, any>;

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class StackRunner {
  private readonly generated = new Map<string, string>();
  /** Variable values used instead of the options' ones while recreating one container. */
  private overrides: Readonly<Record<string, string>> = {};
  private readonly resources: Json;
  private readonly work = mkdtempSync(join(tmpdir(), 'socle-runner-'));

  constructor(stack: Json, private readonly options: RunnerOptions) {
    this.resources = stack.resource ?? {};
  }

  /** Replaces ${...} references the way Terraform would at apply time. */
  resolve(value: string): string {
    return value.replace(/\$\{([^}]+)\}/g, (whole, expr: string) => {
      const [kind, ...rest] = expr.split('.');
      if (kind === 'var') {
        const v = this.overrides[rest[0]] ?? this.options.variables[rest[0]];
        if (v === undefined) throw new Error(`no value for variable ${rest[0]}: pass it in RunnerOptions.variables`);
        return v;
      }
      const [id, attr] = rest;
      if (kind === 'random_password' && attr === 'result') return this.generate(whole, () => randomBytes(48).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, this.resources.random_password[id].length));
      if (kind === 'random_id' && attr === 'hex') return this.generate(whole, () => randomBytes(this.resources.random_id[id].byte_length).toString('hex'));
      const target = this.resources[kind]?.[id];
      if (!target) throw new Error(`unknown reference ${whole}`);
      if (kind === 'docker_image' && attr === 'image_id') return target.name;
      if (attr === 'name') return target.name;
      throw new Error(`unsupported reference ${whole}`);
    });
  }

  private generate(key: string, make: () => string): string {
    if (!this.generated.has(key)) this.generated.set(key, make());
    return this.generated.get(key)!;
  }

  private containers(): Array<[string, Json]> {
    return Object.entries<Json>(this.resources.docker_container ?? {});
  }

  /** Creates networks, volumes and every container whose image is present, then starts them. */
  async up(only?: (name: string) => boolean): Promise<RunReport> {
    const published = new Set<string>();
    for (const [, c] of this.containers()) if ((c.ports ?? []).length) for (const n of c.networks_advanced ?? []) published.add(this.resolve(n.name));
    for (const net of Object.values<Json>(this.resources.docker_network ?? {})) {
      if ((await qn`docker network inspect ${net.name}`).exitCode === 0) continue;
      // Only networks the stack gives a route out (tier egress) are closed in tests; the others are
      // created exactly as declared, so a data network declared with a route out would show.
      const egress = (net.labels ?? []).some((l: Json) => l.label === 'fr.socle.tier' && l.value === 'egress');
      const internal = net.internal === true || ((this.options.isolateEgress ?? true) && egress && !published.has(net.name));
      await q`docker network create --driver ${net.driver ?? 'bridge'} ${internal ? ['--internal'] : []} ${labelFlags(net.labels)} ${net.name}`;
    }
    for (const vol of Object.values<Json>(this.resources.docker_volume ?? {})) {
      if ((await qn`docker volume inspect ${vol.name}`).exitCode === 0) continue;
      await q`docker volume create ${labelFlags(vol.labels)} ${vol.name}`;
    }
    const report: RunReport = { started: [], skipped: [] };
    for (const [id] of this.containers()) {
      const c = this.resources.docker_container[id];
      if (only && !only(c.name)) continue;
      const image = this.resolve(c.image);
      if ((await qn`docker image inspect ${image}`).exitCode !== 0) {
        // Only images the city mirrors from upstream may be missing here; a missing Socle-built
        // image is a failure of the image build, not something to skip.
        if (!MIRRORED_NAMES.some((n) => image.includes(`/${n}:`))) throw new Error(`${c.name}: image ${image} is missing; build it with npm run build-images`);
        report.skipped.push({ name: c.name, image });
        continue;
      }
      await this.create(id);
      report.started.push(c.name);
    }
    return report;
  }

  /** docker create + network connect + uploads + start, from one docker_container resource. */
  async create(id: string): Promise<void> {
    const c = this.resources.docker_container[id];
    const unknown = Object.keys(c).filter((k) => !CONTAINER_ATTRIBUTES.has(k));
    if (unknown.length) throw new Error(`${c.name}: the test runner does not handle ${unknown.join(', ')}; teach it before using them`);
    const flags: string[] = ['--name', c.name];
    if (c.hostname) flags.push('--hostname', c.hostname);
    if (c.restart) flags.push('--restart', c.restart);
    if (c.init) flags.push('--init');
    if (c.memory) flags.push('--memory', `${c.memory}m`);
    if (c.memory_swap) flags.push('--memory-swap', `${c.memory_swap}m`);
    if (c.user) flags.push('--user', c.user);
    for (const d of c.dns ?? []) flags.push('--dns', d);
    if (c.read_only) flags.push('--read-only');
    for (const cap of c.capabilities?.drop ?? []) flags.push('--cap-drop', cap);
    for (const cap of c.capabilities?.add ?? []) flags.push('--cap-add', cap);
    for (const opt of c.security_opts ?? []) flags.push('--security-opt', opt);
    if (c.log_driver) flags.push('--log-driver', c.log_driver);
    for (const [k, v] of Object.entries<string>(c.log_opts ?? {})) flags.push('--log-opt', `${k}=${v}`);
    const hc = c.healthcheck;
    if (hc) {
      const [kind, ...args] = hc.test as string[];
      flags.push('--health-cmd', kind === 'CMD-SHELL' ? args.join(' ') : args.map(shellQuote).join(' '));
      if (hc.interval) flags.push('--health-interval', hc.interval);
      if (hc.timeout) flags.push('--health-timeout', hc.timeout);
      if (hc.retries) flags.push('--health-retries', String(hc.retries));
      if (hc.start_period) flags.push('--health-start-period', hc.start_period);
    }
    for (const [path, opts] of Object.entries<string>(c.tmpfs ?? {})) flags.push('--tmpfs', `${path}:${opts}`);
    for (const v of c.volumes ?? []) flags.push('--mount', `type=volume,src=${this.resolve(v.volume_name)},dst=${v.container_path}${v.read_only ? ',readonly' : ''}`);
    for (const m of c.mounts ?? []) flags.push('--mount', `type=${m.type},src=${m.source},dst=${m.target}${m.read_only ? ',readonly' : ''}`);
    for (const p of c.ports ?? []) flags.push('--publish', `${p.ip ?? '0.0.0.0'}:${p.external}:${p.internal}/${p.protocol ?? 'tcp'}`);
    for (const [k, v] of Object.entries<string>(c.sysctls ?? {})) flags.push('--sysctl', `${k}=${v}`);
    for (const h of c.host ?? []) flags.push('--add-host', `${h.host}:${h.ip}`);
    flags.push(...labelFlags(c.labels));
    for (const e of c.env ?? []) flags.push('--env', this.resolve(e));
    const networks = (c.networks_advanced ?? []).map((n: Json) => ({ name: this.resolve(n.name), aliases: (n.aliases ?? []) as string[] }));
    if (c.network_mode) flags.push('--network', c.network_mode);
    else if (networks.length) {
      flags.push('--network', networks[0].name);
      for (const a of networks[0].aliases) flags.push('--network-alias', a);
    }
    const [entry, ...entryRest] = (c.entrypoint ?? []).map((s: string) => this.resolve(s));
    if (entry) flags.push('--entrypoint', entry);
    const command = [...entryRest, ...(c.command ?? []).map((s: string) => this.resolve(s))];
    await q`docker create ${flags} ${this.resolve(c.image)} ${command}`;
    mkdirSync(this.work, { recursive: true });
    for (const n of networks.slice(1)) await q`docker network connect ${n.aliases.flatMap((a: string) => ['--alias', a])} ${n.name} ${c.name}`;
    for (const [i, u] of (c.upload ?? []).entries()) {
      const file = join(this.work, `${c.name}-${i}`);
      writeFileSync(file, this.resolve(u.content), { mode: u.executable ? 0o755 : 0o644 });
      await q`docker cp ${file} ${`${c.name}:${u.file}`}`;
    }
    await q`docker start ${c.name}`;
  }

  /**
   * Removes one container and creates it again from the same resource (volumes kept), optionally
   * with other values for some variables (a city that deployed a wrong key, say).
   */
  async recreate(name: string, variables: Readonly<Record<string, string>> = {}): Promise<void> {
    const entry = this.containers().find(([, c]) => c.name === name);
    if (!entry) throw new Error(`no container ${name} in the stack`);
    await q`docker rm --force ${name}`;
    this.overrides = variables;
    try {
      await this.create(entry[0]);
    } finally {
      this.overrides = {};
    }
  }

  /** Removes every container, network and volume of the stack. */
  async down(): Promise<void> {
    const names = this.containers().map(([, c]) => c.name);
    if (names.length) await qn`docker rm --force --volumes ${names}`;
    for (const net of Object.values<Json>(this.resources.docker_network ?? {})) await qn`docker network rm ${net.name}`;
    for (const vol of Object.values<Json>(this.resources.docker_volume ?? {})) await qn`docker volume rm --force ${vol.name}`;
    rmSync(this.work, { recursive: true, force: true });
  }
}

function labelFlags(labels: Array<{ label: string; value: string }> | undefined): string[] {
  return (labels ?? []).flatMap((l) => ['--label', `${l.label}=${l.value}`]);
}

/** Waits until every named container reports healthy; throws naming the ones that are not. */
export async function waitHealthy(names: readonly string[], timeoutSec = 120): Promise<number> {
  const started = Date.now();
  let states: Record<string, string> = {};
  while (Date.now() - started < timeoutSec * 1000) {
    const r = await qn`docker inspect --format ${'{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}} {{.State.Status}}'} ${names}`;
    states = Object.fromEntries(r.stdout.trim().split('\n').filter(Boolean).map((l) => {
      const [n, health, status] = l.split(' ');
      return [n.replace(/^\//, ''), `${health}/${status}`];
    }));
    // healthy/running: a container being restarted still shows its last health status.
    if (names.every((n) => states[n] === 'healthy/running')) return (Date.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const bad = names.filter((n) => states[n] !== 'healthy/running');
  const logs = await Promise.all(bad.map(async (n) => `--- ${n} (${states[n]}):\n${(await qn`docker logs --tail 15 ${n}`).stderr}${(await qn`docker inspect --format ${'{{json .State.Health.Log}}'} ${n}`).stdout.slice(-600)}`));
  throw new Error(`not healthy after ${timeoutSec} s: ${bad.join(', ')}\n${logs.join('\n')}`);
}
