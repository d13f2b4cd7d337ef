import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse, stringify } from 'yaml';
import { Testing } from 'cdktf';
import { loadCity } from '../stacks/config/load.js';
import { HostStack, generatedFileOf } from '../stacks/host-stack.js';
import { synthesize } from '../stacks/synth.js';
import { MailGateway } from '../services/mail-gateway/index.js';
import type { BackupAlerts } from '../services/backup/index.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const EXAMPLE = join(ROOT, 'examples/ville-exemple.yaml');

export function tempDir(prefix = 'socle-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The example city as a plain object, to mutate in a test. */
export function exampleCity(): any {
  return parse(readFileSync(EXAMPLE, 'utf8'));
}

/** Writes a city object (or raw text) to a temporary file and returns its path. */
export function writeCity(city: unknown, name = 'ville.yaml', dir = tempDir()): string {
  const file = join(dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, typeof city === 'string' ? city : stringify(city));
  return file;
}

export interface SynthedStack {
  readonly name: string;
  readonly json: any;
  readonly text: string;
}

/** Runs the real synth (config, policy, output) and reads back every stack's cdk.tf.json. */
export function synthToDisk(config: string, options: { extraTorrc?: string[] } = {}): { outdir: string; stacks: SynthedStack[] } {
  const outdir = join(tempDir(), 'cdktf.out');
  synthesize({ config, outdir, ...options });
  const stacks = readdirSync(join(outdir, 'stacks')).sort().map((name) => {
    const text = readFileSync(join(outdir, 'stacks', name, 'cdk.tf.json'), 'utf8');
    return { name, json: JSON.parse(text), text };
  });
  return { outdir, stacks };
}

/** Every resource of a type in a synthesized stack, as a list of attribute objects. */
export function resources(json: any, type: string): any[] {
  return Object.values(json.resource?.[type] ?? {});
}

export function containerNamed(json: any, name: string): any {
  const found = resources(json, 'docker_container').find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}; have ${resources(json, 'docker_container').map((c) => c.name).join(', ')}`);
  return found;
}

export const labelsOf = (r: any): Record<string, string> => Object.fromEntries((r.labels ?? []).map((l: any) => [l.label, l.value]));

/**
 * Synthesizes what `build` declares inside a HostStack of the example city (per-service tests),
 * and returns the stack JSON.
 */
export function synthInHost(build: (stack: HostStack) => void, city = loadCity(EXAMPLE)): any {
  const app = Testing.app();
  const stack = new HostStack(app, 'test-host', { city, host: city.hosts[0] });
  build(stack);
  return JSON.parse(Testing.synth(stack));
}

/** Runs a CLI entry point of the project the way a sysadmin would, and returns its outcome. */
export function run(command: string, args: string[], env: Record<string, string> = {}, cwd = ROOT): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd, env: { ...process.env, CHECKPOINT_DISABLE: '1', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const TSX = join(ROOT, 'node_modules/.bin/tsx');
export const CDKTF = join(ROOT, 'node_modules/.bin/cdktf');

/**
 * A file a container receives at creation: an upload, or, for a read-only container, the
 * SOCLE_FILE_<n> environment pair that socle-files writes to /etc/socle.
 */
export function fileOf(container: any, path: string): string {
  const content = generatedFileOf(container, path);
  if (content === undefined) throw new Error(`${container.name} receives no file ${path}`);
  return content;
}

/** Alert settings for a BackupRunner declared alone in a test host: a mail gateway of its own. */
export function testAlerts(stack: HostStack, relayCa?: string): BackupAlerts {
  const gateway = new MailGateway(stack, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', user: 'socle@ville-exemple.fr', from: 'ne-pas-repondre@ville-exemple.fr', password: stack.secretVariable('smtp_password', 'relay password'), ca: relayCa });
  return { to: ['dsi@ville-exemple.fr'], smtp: gateway.smtp, label: 'Ville-Exemple, serveur-1' };
}
