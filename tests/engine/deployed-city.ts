// A test city deployed the way a city deploys: `npm run deploy` (OpenTofu from the tools the suite
// built, providers from the mirror) over SSH to this machine, images pulled from the test registry.
// Tests change it the same way: a setting in the city file, a secret in the environment, --replace.
import { join } from 'node:path';
import { $ } from 'zx';
import { ROOT, TSX } from '../helpers.js';
import { prepareTestCity, TEST_SECRETS, type TestCity } from './test-city.js';
import { loadHostFirewall } from './test-host.js';
import { REMOTE_CONTROL_PATH } from '../../services/limesurvey/index.js';

export interface DeployedCityOptions {
  /**
   * Load the host firewall the Ansible role renders for this city before the first deploy, as a
   * prepared host has it (default); or deploy with --skip-firewall-check and this reason.
   */
  readonly skipFirewallCheck?: string;
}

const qn = $({ quiet: true, nothrow: true });

export interface DeployRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export class DeployedCity {
  private constructor(public readonly city: TestCity, private readonly options: DeployedCityOptions) {}

  /** Writes the test city and applies it; throws with the deploy's output when it fails. */
  static async up(fixture = 'ville-test', edit?: (yaml: string) => string, options: DeployedCityOptions = {}): Promise<DeployedCity> {
    const city = await prepareTestCity(fixture, edit);
    const deployed = new DeployedCity(city, options);
    await deployed.removeEverything();
    if (options.skipFirewallCheck === undefined) await deployed.loadFirewall();
    const r = await deployed.deploy(['--apply']);
    if (r.exitCode !== 0) throw new Error(`deploy --apply failed (exit ${r.exitCode}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    return deployed;
  }

  /** Container names the stack declares. */
  get containers(): string[] {
    return Object.values<any>(this.city.stack.resource.docker_container ?? {}).map((c) => c.name).sort();
  }

  /** The host firewall (Ansible's template, rendered with the flows this city's synth wrote) loaded with nft. Returns the rules. */
  loadFirewall(): Promise<string> {
    return loadHostFirewall(join(this.city.outdir, 'stacks', this.city.stackName, 'ansible-vars.json'), join(this.city.outdir, 'host-firewall.nft'));
  }

  /** `npm run deploy -- --config <city> ARGS`, with the city's secrets (overridable) in its environment. */
  async deploy(args: readonly string[], env: Record<string, string> = {}): Promise<DeployRun> {
    const started = Date.now();
    const skip = this.options.skipFirewallCheck !== undefined && args.includes('--apply') ? ['--skip-firewall-check', this.options.skipFirewallCheck] : [];
    const r = await $({ quiet: true, nothrow: true, env: { ...process.env, ...TEST_SECRETS, ...env } })`${TSX} ${join(ROOT, 'scripts/deploy.ts')} --config ${this.city.config} --out ${this.city.outdir} --backup-key ${this.city.backupKey} ${args} ${skip}`;
    return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - started) / 1000 };
  }

  /** Applies with `--replace NAME` (a container recreated, its volumes kept), optionally with other secrets. */
  async recreate(name: string, env: Record<string, string> = {}): Promise<DeployRun> {
    const r = await this.deploy(['--apply', '--replace', name], env);
    if (r.exitCode !== 0) throw new Error(`deploy --apply --replace ${name} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return r;
  }

  /**
   * Test cleanup, not a city's operation: `deploy --destroy` keeps protected volumes on purpose, so
   * everything labelled with this commune is removed by hand afterwards.
   */
  async down(): Promise<void> {
    await this.deploy(['--destroy']);
    await this.removeEverything();
  }

  private async removeEverything(): Promise<void> {
    const label = `label=fr.socle.commune=${this.slug}`;
    const ids = (await qn`docker ps --all --quiet --filter ${label}`).stdout.trim().split('\n').filter(Boolean);
    if (ids.length) await qn`docker rm --force --volumes ${ids}`;
    const nets = (await qn`docker network ls --quiet --filter ${label}`).stdout.trim().split('\n').filter(Boolean);
    for (const n of nets) {
      // Test helpers (SFTP targets) attached to a network of the stack go first.
      const attached = (await qn`docker network inspect --format ${'{{range .Containers}}{{.Name}} {{end}}'} ${n}`).stdout.trim().split(' ').filter(Boolean);
      if (attached.length) await qn`docker rm --force --volumes ${attached}`;
      await qn`docker network rm ${n}`;
    }
    const vols = (await qn`docker volume ls --quiet --filter ${label}`).stdout.trim().split('\n').filter(Boolean);
    if (vols.length) await qn`docker volume rm --force ${vols}`;
  }

  /**
   * curl to `https://host:port/path` through the city's proxy published on loopback, as a browser
   * on this machine would reach the city's name, trusting the test city's CA.
   */
  viaProxy(host: string, port: number, path: string, extra: readonly string[] = []) {
    return qn`curl --silent --show-error --max-time 20 --cacert ${join(this.city.tls, 'ca.pem')} --resolve ${`${host}:${port}:127.0.0.1`} ${extra} ${`https://${host}:${port}${path}`}`;
  }

  /** The commune's slug, as its resources are labelled. */
  get slug(): string {
    const c = Object.values<any>(this.city.stack.resource.docker_container)[0];
    return c.labels.find((l: any) => l.label === 'fr.socle.commune').value;
  }
}

/** A container's environment, as `KEY=value` lines (generated secrets included). */
export async function containerEnv(container: string): Promise<string[]> {
  return JSON.parse((await $({ quiet: true })`docker inspect --format ${'{{json .Config.Env}}'} ${container}`).stdout) as string[];
}

/** One variable of a container's environment; throws when it has none. */
export async function envOf(container: string, key: string): Promise<string> {
  const entry = (await containerEnv(container)).find((e) => e.startsWith(`${key}=`));
  if (entry === undefined) throw new Error(`${container} has no ${key}`);
  return entry.slice(key.length + 1);
}

/** Waits until every named container reports healthy; throws naming the ones that are not. */
export async function waitAllHealthy(names: readonly string[], timeoutSec = 120): Promise<number> {
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

/**
 * A LimeSurvey RemoteControl call from inside its app container (the endpoint is for the stack's
 * own network), as the generated administrator.
 */
export async function remoteControl(app: string, method: string, ...params: unknown[]): Promise<any> {
  // Named as the container names itself (in the city's domain), as npm run survey names the site:
  // the Message-ID of mail a call sends is made from the Host.
  const host = (await qn`docker inspect --format {{.Config.Hostname}} ${app}`).stdout.trim();
  const call = async (m: string, p: unknown[]) => {
    const r = await $({ quiet: true, input: JSON.stringify({ method: m, params: p, id: 1 }) })`docker exec -i ${app} curl --silent --fail -X POST -H ${'Content-Type: application/json'} -H ${`Host: ${host}`} --data-binary @- http://127.0.0.1:8080${REMOTE_CONTROL_PATH}`;
    return JSON.parse(r.stdout).result;
  };
  const key = await call('get_session_key', ['admin', await envOf(app, 'ADMIN_PASSWORD')]);
  if (typeof key !== 'string') throw new Error(`get_session_key: ${JSON.stringify(key)}`);
  return call(method, [key, ...params]);
}
