// Deploys synthesized stacks with plain OpenTofu (default) or Terraform, one stack per host:
// init against the committed lock file, adopt what a killed apply left behind, plan, apply. State
// and plans are encrypted (OpenTofu) with the city's passphrase; secrets travel as TF_VAR_* in the
// engine's environment only. Used by `npm run deploy`, the engine tests and bench/deploy.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CityConfig, HostConfig, SecretRef } from '../../stacks/config/types.js';
import type { SecretBinding } from '../../stacks/city.js';
import { InputError, StepError } from '../../core/errors.js';
import { LABEL } from '../../core/labels.js';
import { firewallFix, probeHostFirewall } from './host-firewall.js';
import { awaitUpgraded, backUpBeforeUpgrade, pendingUpgrades, restoreBeforeUpgrade, type Authorized, type OnHost } from './upgrade-gate.js';
import { run, runOnHost, type Output, type RunResult } from './run.js';
import { LOCK_FILE, defaultToolsDir, toolSet } from './tools.js';
import { REGISTRY_HOSTS } from '../../stacks/deploy-tools.js';

export type DeployToolName = 'tofu' | 'terraform';
export type DeployAction = 'plan' | 'apply' | 'destroy';

/** One host's stack, ready to deploy: where it was synthesized and the values of its secrets. */
export interface StackTarget {
  readonly name: string;
  readonly dir: string;
  readonly city: CityConfig;
  readonly host: HostConfig;
  readonly secrets: readonly SecretBinding[];
}

export interface DeployTool {
  readonly name: DeployToolName;
  /** The binary to run. */
  readonly binary: string;
  /** CLI configuration selecting the provider mirror, when there is one. */
  readonly cliConfig?: string;
}

/**
 * OpenTofu from the tools directory (npm run provider-mirror) when it holds one, else from PATH;
 * Terraform from PATH. The mirror's CLI configuration is used whichever engine runs.
 */
export function chooseDeployTool(name: DeployToolName, toolsDir = defaultToolsDir()): DeployTool {
  const tools = toolSet(toolsDir);
  const cliConfig = existsSync(tools.cliConfig) ? tools.cliConfig : undefined;
  if (name === 'tofu') return { name, binary: existsSync(tools.tofu) ? tools.tofu : 'tofu', cliConfig };
  return { name, binary: 'terraform', cliConfig };
}

/** TF_VAR_* values of one stack, or a list of what is missing and how to provide it. */
export function resolveSecrets(bindings: readonly SecretBinding[], env: NodeJS.ProcessEnv, backupKey?: string): { vars: Record<string, string>; sources: Record<string, string>; missing: string[] } {
  const vars: Record<string, string> = {};
  const sources: Record<string, string> = {};
  const missing: string[] = [];
  for (const b of bindings) {
    const ref = b.ref;
    if ('env' in ref || 'file' in ref) {
      const got = readSecret(ref, env);
      sources[b.variable] = got.source;
      if (got.value !== undefined) vars[b.variable] = got.value;
      else missing.push(`${b.variable} (${b.description}): ${got.fix}`);
    } else {
      const file = b.variable === 'backup_authorized_keys' && backupKey ? `${backupKey}.pub` : backupKey;
      sources[b.variable] = file ? `file ${file}` : '--backup-key';
      if (!file) missing.push(`${b.variable} (${b.description}): pass --backup-key FILE (ssh-keygen -t ed25519 -N '' -f FILE)`);
      else if (!existsSync(file)) missing.push(`${b.variable} (${b.description}): ${file} does not exist; ssh-keygen -t ed25519 -N '' -f ${backupKey}`);
      else vars[b.variable] = readFileSync(file, 'utf8');
    }
  }
  return { vars, sources, missing };
}

/** The value behind a secret reference, or what to do to provide it. */
export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv): { value?: string; source: string; fix: string } {
  if ('env' in ref) {
    const value = env[ref.env] || undefined;
    return { value, source: `environment variable ${ref.env}`, fix: `export ${ref.env}=... on the deploying machine` };
  }
  try {
    return { value: readFileSync(ref.file, 'utf8').replace(/\n$/, ''), source: `file ${ref.file}`, fix: '' };
  } catch (err) {
    return { source: `file ${ref.file}`, fix: `cannot read ${ref.file} (${(err as NodeJS.ErrnoException).code}); create it, readable by the deploying user only` };
  }
}

/** HCL strings are templates: `${` and `%{` must be doubled to stay literal. */
function hclString(value: string): string {
  return JSON.stringify(value).replace(/\$\{/g, '$${').replace(/%\{/g, '%%{');
}

/**
 * OpenTofu's encryption configuration (TF_ENCRYPTION): state and plan files encrypted with a key
 * derived from the city's passphrase, enforced. `migrate` also reads a plaintext state once (a
 * city that deployed before encryption) and writes it back encrypted.
 */
function encryptionConfig(passphrase: string, migrate = false): string {
  const fallback = migrate ? '\n  fallback {\n    method = method.unencrypted.migrate\n  }' : '';
  return [
    `key_provider "pbkdf2" "socle" {\n  passphrase = ${hclString(passphrase)}\n}`,
    'method "aes_gcm" "socle" {\n  keys = key_provider.pbkdf2.socle\n}',
    ...(migrate ? ['method "unencrypted" "migrate" {}'] : []),
    `state {\n  method = method.aes_gcm.socle\n  enforced = ${!migrate}${fallback}\n}`,
    'plan {\n  method = method.aes_gcm.socle\n  enforced = true\n}',
  ].join('\n');
}

/** The local state file a stack declares (cdk.tf.json, terraform.backend.local.path). */
function statePath(stackDir: string): string {
  const json = JSON.parse(readFileSync(join(stackDir, 'cdk.tf.json'), 'utf8'));
  return json.terraform.backend.local.path;
}

/** A state file written before encryption was on: plain JSON. */
function isPlaintextState(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    return typeof json.terraform_version === 'string' && !('encrypted_data' in json);
  } catch {
    return false;
  }
}

/** What a plan would do, read from `show -json` of the plan file (kept in memory only). */
export interface PlannedChange {
  readonly address: string;
  readonly actions: readonly string[];
  /** The Docker object's name, when it has one. */
  readonly name?: string;
}

export interface StackOutcome {
  readonly name: string;
  readonly changes: readonly PlannedChange[];
  /** Volumes left on the host by a destroy (prevent_destroy: personal data, secrets). */
  readonly kept: readonly string[];
  /** Containers a killed apply had created without recording them, removed before planning. */
  readonly adopted: readonly string[];
  readonly applied: boolean;
  readonly seconds: Readonly<Record<string, number>>;
}

export interface DeployOptions {
  readonly action: DeployAction;
  /** OpenTofu (default) or Terraform, and where its providers come from. */
  readonly tool: DeployTool;
  /** Container names to recreate (tofu -replace). */
  readonly replace?: readonly string[];
  /** Take over containers and networks of the stack that run on the host while no state exists. */
  readonly adopt?: boolean;
  /** Terraform only: accept a state that holds the secrets in clear. */
  readonly plaintextState?: boolean;
  readonly backupKey?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly dryRun?: boolean;
  /** Apply although the host firewall rule could not be confirmed (the reason is printed). @default check it */
  readonly skipFirewallCheck?: string;
  readonly say?: Output;
  /** Where the engine's own output goes (default: `say`). */
  readonly toolOutput?: Output;
}

interface PreparedStack extends StackTarget {
  readonly vars: Record<string, string>;
  readonly sources: Record<string, string>;
  readonly passphrase?: string;
}

/** Resolves every secret of every stack first: a missing one stops everything before any host is touched. */
function prepare(targets: readonly StackTarget[], options: DeployOptions): PreparedStack[] {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const prepared = targets.map((t) => {
    const r = resolveSecrets(t.secrets, env, options.backupKey);
    problems.push(...r.missing.map((m) => `  ${t.name}: ${m}`));
    let passphrase: string | undefined;
    if (options.tool.name === 'tofu') {
      const got = readSecret(t.city.state.passphrase, env);
      const ref = 'env' in t.city.state.passphrase ? `{ env: ${t.city.state.passphrase.env} }` : `{ file: ${t.city.state.passphrase.file} }`;
      if (got.value === undefined) problems.push(`  ${t.name}: state passphrase (state.passphrase = ${ref} in ${t.city.file}): ${got.fix}`);
      else if (got.value.length < 16) problems.push(`  ${t.name}: state passphrase from ${got.source} has ${got.value.length} characters; OpenTofu needs at least 16: generate one with openssl rand -base64 32`);
      passphrase = got.value;
    }
    return { ...t, vars: r.vars, sources: r.sources, passphrase };
  });
  if (options.tool.name === 'terraform' && !options.plaintextState) {
    problems.push('  Terraform cannot encrypt its state or plans, and they hold every generated password in clear: deploy with OpenTofu (the default),\n'
      + '  or pass --plaintext-state to accept that the state files stay readable by whoever reads them');
  }
  if (problems.length) throw new InputError(`nothing was deployed:\n${problems.join('\n')}`);
  return prepared;
}

/** Deploys every target in order; the first failure stops (stacks after it are not touched). */
export async function deployStacks(targets: readonly StackTarget[], options: DeployOptions): Promise<StackOutcome[]> {
  const say = options.say ?? ((line: string) => console.log(line));
  const prepared = prepare(targets, options);
  if (options.action === 'apply' && !options.dryRun) await checkHostFirewalls(prepared, options, say);
  const outcomes: StackOutcome[] = [];
  for (const [i, t] of prepared.entries()) {
    say(`[${i + 1}/${prepared.length}] ${t.name} (${options.tool.name}, host ${t.host.name})`);
    for (const [v, source] of Object.entries(t.sources)) say(`  TF_VAR_${v} <- ${source}`);
    if (t.passphrase) say(`  state and plans encrypted (OpenTofu, key from ${'env' in t.city.state.passphrase ? `environment variable ${t.city.state.passphrase.env}` : `file ${t.city.state.passphrase.file}`}): ${statePath(t.dir)}`);
    else say(`  state in clear (--plaintext-state): ${statePath(t.dir)}`);
    outcomes.push(await deployOne(t, options, say));
  }
  return outcomes;
}

/**
 * Every host must keep containers away from its own services (the Ansible role's rule) before
 * anything is applied to it: checked on all hosts first, so a refusal leaves every host untouched.
 * A plan changes nothing and is not held up by the probe.
 */
async function checkHostFirewalls(targets: readonly PreparedStack[], options: DeployOptions, say: Output): Promise<void> {
  if (options.skipFirewallCheck !== undefined) {
    say(`WARNING: the host firewall was not checked (--skip-firewall-check: ${options.skipFirewallCheck})`);
    return;
  }
  const unprotected: string[] = [];
  const seenHosts = new Set<string>();
  for (const t of targets) {
    if (seenHosts.has(t.host.name)) continue;
    seenHosts.add(t.host.name);
    const env = options.env ?? process.env;
    const registry = t.city.registry;
    const registryPassword = registry.username && registry.password ? readSecret(registry.password, env).value ?? '' : '';
    const probe = await probeHostFirewall(t, registryPassword, env);
    say(`  host firewall on ${t.host.name}: ${probe.active ? 'active' : 'NOT ACTIVE'} (${probe.seen})`);
    if (!probe.active) unprotected.push(t.host.name);
  }
  if (unprotected.length === 0) return;
  const what = `containers on ${unprotected.join(', ')} can reach the host's own services (sshd, ...): the host firewall rule (table inet socle_host) is not active`;
  const fix = unprotected.map((h) => `  fix: ${firewallFix(h)}`).join('\n');
  throw new StepError(`nothing was applied: ${what}.\n${fix}\n  then run the same command again`);
}

/** docker_container and docker_volume resources of a stack: address, Docker name, prevent_destroy. */
function declared(dir: string): { containers: Map<string, string>; networks: Map<string, string>; keptVolumes: Map<string, string> } {
  const json = JSON.parse(readFileSync(join(dir, 'cdk.tf.json'), 'utf8'));
  const of = (type: string) => Object.entries<any>(json.resource?.[type] ?? {});
  return {
    containers: new Map(of('docker_container').map(([id, r]) => [`docker_container.${id}`, r.name])),
    networks: new Map(of('docker_network').map(([id, r]) => [`docker_network.${id}`, r.name])),
    keptVolumes: new Map(of('docker_volume').filter(([, r]) => r.lifecycle?.prevent_destroy).map(([id, r]) => [`docker_volume.${id}`, r.name])),
  };
}

async function deployOne(t: PreparedStack, options: DeployOptions, say: Output): Promise<StackOutcome> {
  const tool = options.tool;
  const toolOut = options.toolOutput ?? say;
  const migrate = tool.name === 'tofu' && isPlaintextState(statePath(t.dir));
  const env: NodeJS.ProcessEnv = {
    ...(options.env ?? process.env),
    ...Object.fromEntries(Object.entries(t.vars).map(([k, v]) => [`TF_VAR_${k}`, v])),
    TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1',
    ...(tool.cliConfig ? { TF_CLI_CONFIG_FILE: tool.cliConfig } : {}),
    ...(t.passphrase ? { TF_ENCRYPTION: encryptionConfig(t.passphrase, migrate) } : {}),
  };
  const chdir = `-chdir=${t.dir}`;
  const seconds: Record<string, number> = {};
  const planFile = 'socle.tfplan';
  const tf = async (step: string, args: string[], allowed: number[] = [0]): Promise<RunResult> => {
    const shown = `${tool.name} ${chdir} ${args.join(' ')}`;
    say(`  ${options.dryRun ? '[dry-run] ' : ''}${shown}`);
    if (options.dryRun) return { code: 0, stdout: '', stderr: '' };
    const started = Date.now();
    let r: RunResult;
    try {
      r = await run(tool.binary, [chdir, ...args], env, args[0] === 'show' || args[0] === 'state' ? undefined : toolOut);
    } catch (err) {
      throw new StepError(`${tool.binary} could not start (${(err as Error).message}): build the tools with npm run provider-mirror (OpenTofu), or install Terraform (--terraform)`);
    }
    seconds[step] = (seconds[step] ?? 0) + (Date.now() - started) / 1000;
    if (!allowed.includes(r.code)) {
      throw new StepError(`${shown.split(' ').slice(0, 3).join(' ')} failed (exit ${r.code}) on ${t.name}; stacks after it were not touched.\n${lastLines(r.stderr)}\n  fix the cause above and run the same command again: a deploy resumes where it stopped`);
    }
    return r;
  };

  if (migrate) say('  the state file is in clear (deployed before encryption): this run encrypts it');
  if (!options.dryRun) writeDeployToolLock(t.dir, tool.name);
  if (!options.dryRun) checkStateNotLeftBehind(t.dir, t.name);
  // -reconfigure: the backend is a local file the city file names; a moved state is caught above.
  await tf('init', ['init', '-input=false', '-lockfile=readonly', '-reconfigure', '-no-color']);
  const wanted = declared(t.dir);
  const adopted = options.dryRun ? [] : await adoptLeftovers(t, wanted, tf, say, options);

  const kept: string[] = [];
  if (options.action === 'destroy') {
    // Volumes holding personal data or secrets outlive the stack: forget them, leave them on the host.
    const inState = options.dryRun ? [...wanted.keptVolumes.keys()] : await stateList(tf);
    for (const [address, name] of wanted.keptVolumes) {
      if (!inState.includes(address)) continue;
      await tf('forget', ['state', 'rm', '-no-color', address]);
      kept.push(name);
    }
  }
  const planArgs = ['plan', '-input=false', '-no-color', '-detailed-exitcode', `-out=${planFile}`,
    ...(options.action === 'destroy' ? ['-destroy'] : []),
    ...(options.replace ?? []).map((name) => `-replace=${addressOf(wanted.containers, name, t.name)}`)];
  const plan = await tf('plan', planArgs, [0, 2]);
  const changes = plan.code === 2 && !options.dryRun ? await readPlan(tf, planFile) : [];
  const absPlan = join(t.dir, planFile);
  try {
    if (!options.dryRun) say(`  plan: ${summarize(changes)}`);
    for (const c of changes) say(`    ${c.actions.join('/')} ${c.address}${c.name ? ` (${c.name})` : ''}`);
    for (const name of kept) say(`  kept volume ${name} (prevent_destroy): still on the host with its data; docker volume rm ${name} there once it is no longer needed`);
    const applying = options.action !== 'plan' && (changes.length > 0 || options.dryRun === true);
    // An app whose new image migrates its data is backed up first (nothing applied if that fails).
    const onHost: OnHost = (remote) => runOnHost(t.host.ssh, remote);
    const replaced = changes.filter((c) => c.actions.includes('delete') && c.actions.includes('create') && c.name).map((c) => c.name!);
    const upgrades: Authorized[] = [];
    if (applying && options.action === 'apply' && !options.dryRun) {
      for (const u of await pendingUpgrades(t.dir, replaced, onHost)) upgrades.push(await backUpBeforeUpgrade(t.dir, t.host.name, u, onHost, say));
    }
    let applyFailure: Error | undefined;
    if (applying) await tf('apply', ['apply', '-input=false', '-no-color', planFile]).catch((err: Error) => {
      if (upgrades.length === 0) throw err;
      applyFailure = err;
    });
    for (const u of upgrades) {
      const outcome = applyFailure ? { healthy: false as const, reason: applyFailure.message } : await awaitUpgraded(u, onHost, say);
      if (outcome.healthy) continue;
      say(`  UPGRADE FAILED: ${outcome.reason}`);
      const restored = await restoreBeforeUpgrade(t.dir, u, onHost, say);
      say(`  putting ${u.fromImage} back on ${u.container}`);
      await tf('plan', ['plan', '-input=false', '-no-color', `-out=${planFile}`]);
      await tf('apply', ['apply', '-input=false', '-no-color', planFile]);
      const back = await awaitUpgraded({ ...u, toImage: u.fromImage }, onHost, say);
      throw new StepError(`the upgrade of ${u.service} to ${u.toImage} FAILED and was undone: database ${restored.join(', ') || '(none)'} restored from backup ${u.snapshot.slice(0, 8)} taken just before it, `
        + `${u.container} ${back.healthy ? 'runs' : 'is back on, but NOT healthy on,'} ${u.fromImage} again.\n  why: ${outcome.reason}\n`
        + `  fix: the city file still names the new image, so the next deploy tries again (with a new backup first): fix the cause above, or set the image back in the city file`);
    }
    if (!options.dryRun) say(`  done in ${Object.entries(seconds).map(([step, n]) => `${step} ${n.toFixed(1)} s`).join(', ')}`);
    return { name: t.name, changes, kept, adopted, applied: applying, seconds };
  } finally {
    // Even encrypted, a plan file is a copy of the secrets: it does not outlive the run.
    rmSync(absPlan, { force: true });
  }
}

/**
 * The state file an earlier init used (.terraform/terraform.tfstate records it) still exists while
 * the one the city file now names does not: state.directory changed and the state was not moved.
 * Deploying would start from an empty state, so stop and say what to move.
 */
function checkStateNotLeftBehind(dir: string, stack: string): void {
  const backend = join(dir, '.terraform/terraform.tfstate');
  if (!existsSync(backend)) return;
  let previous: string | undefined;
  try {
    previous = JSON.parse(readFileSync(backend, 'utf8')).backend?.config?.path;
  } catch {
    return;
  }
  const now = statePath(dir);
  if (previous && previous !== now && existsSync(previous) && !existsSync(now)) {
    throw new InputError(`${stack}: the state is at ${previous}, but the city file now puts it at ${now} (state.directory changed).\n  fix: move ${previous} to ${now} (keep it encrypted, on city storage), then run the deploy again; nothing was deployed`);
  }
}

/**
 * The committed lock file pins the providers under both registry names; each engine resolves
 * `kreuzwerker/docker` to its own registry and, with -lockfile=readonly, refuses a lock file that
 * also names the other's. The stack gets the committed blocks of its engine, unchanged.
 */
export function writeDeployToolLock(dir: string, tool: DeployToolName): void {
  const host = tool === 'tofu' ? REGISTRY_HOSTS[0] : REGISTRY_HOSTS[1];
  const blocks = readFileSync(LOCK_FILE, 'utf8').match(/^provider "[^"]+" \{[\s\S]*?^\}\n/gm) ?? [];
  const mine = blocks.filter((b) => b.startsWith(`provider "${host}/`));
  if (mine.length === 0) throw new StepError(`${LOCK_FILE} pins no provider for ${host}: run npm run provider-mirror -- --relock`);
  writeFileSync(join(dir, '.terraform.lock.hcl'), `# Socle: the ${tool} blocks of stacks/terraform.lock.hcl.\n\n${mine.join('\n')}`);
}

function lastLines(text: string, n = 12): string {
  return text.trim().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
}

function addressOf(containers: Map<string, string>, name: string, stack: string): string {
  for (const [address, n] of containers) if (n === name || address === name) return address;
  throw new InputError(`--replace ${name}: no container of that name in ${stack}; it has ${[...containers.values()].join(', ')}`);
}

type Tf = (step: string, args: string[], allowed?: number[]) => Promise<RunResult>;

async function stateList(tf: Tf): Promise<string[]> {
  const r = await tf('state', ['state', 'list', '-no-color'], [0, 1]);
  return r.code === 0 ? r.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [];
}

async function readPlan(tf: Tf, planFile: string): Promise<PlannedChange[]> {
  const r = await tf('plan', ['show', '-json', '-no-color', planFile]);
  const plan = JSON.parse(r.stdout);
  return (plan.resource_changes ?? [])
    .filter((c: any) => !(c.change.actions.length === 1 && ['no-op', 'read'].includes(c.change.actions[0])))
    .map((c: any) => ({ address: c.address, actions: c.change.actions, name: c.change.after?.name ?? c.change.before?.name }));
}

function summarize(changes: readonly PlannedChange[]): string {
  if (changes.length === 0) return 'no changes: the host already matches the stack';
  const count = (a: string) => changes.filter((c) => c.actions.includes(a)).length;
  return `${count('create')} to create, ${changes.filter((c) => c.actions.length === 1 && c.actions[0] === 'update').length} to update in place, ${count('delete')} to delete`;
}

/**
 * A killed apply can leave containers the engine created but the state never recorded: creating
 * them again would fail on their names. Containers of this commune and host that the state does
 * not know are removed before an apply (their volumes are untouched and adopted again by name), and
 * networks are imported into the state (other containers may use them). Only when a state file
 * exists: with none at all, they are the sign of a lost or moved state, and a plan says so while an
 * apply refuses unless told to take them over (--adopt). A plan never removes anything.
 */
async function adoptLeftovers(t: PreparedStack, wanted: ReturnType<typeof declared>, tf: Tf, say: Output, options: DeployOptions): Promise<string[]> {
  const inState = new Set(await stateList(tf));
  const missing = [...wanted.containers].filter(([address]) => !inState.has(address));
  const missingNets = [...wanted.networks].filter(([address]) => !inState.has(address));
  if (missing.length === 0 && missingNets.length === 0) return [];
  const onHost = await onHostDocker(t, ['ps', '--all', '--filter', `label=${LABEL.commune}=${t.city.commune.slug}`, '--filter', `label=${LABEL.host}=${t.host.name}`, '--format', '{{.Names}}']);
  const leftovers = missing.map(([, name]) => name).filter((n) => onHost.split('\n').includes(n));
  const networks = await onHostDocker(t, ['network', 'ls', '--filter', `label=${LABEL.commune}=${t.city.commune.slug}`, '--filter', `label=${LABEL.host}=${t.host.name}`, '--format', '{{.Name}} {{.ID}}']);
  const ids = new Map(networks.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  const strayNets = missingNets.filter(([, name]) => ids.has(name));
  if (leftovers.length === 0 && strayNets.length === 0) return [];
  const noState = !existsSync(statePath(t.dir));
  if (options.action === 'plan' || (noState && !options.adopt)) {
    const what = `${leftovers.length} container(s) and ${strayNets.length} network(s) of this stack run on ${t.host.name} but are not in ${noState ? 'any state (there is no state file)' : 'the state'}: ${[...leftovers, ...strayNets.map(([, n]) => n)].join(', ')}`;
    if (options.action === 'plan') {
      say(`  note: ${what}; an apply ${noState ? 'would refuse them unless given --adopt' : 'removes the containers (an interrupted deploy left them) and imports the networks'}`);
      return [];
    }
    throw new InputError(`${t.name}: ${what}.\n  fix: if the state was moved, put it back at ${statePath(t.dir)}; if it is lost, run again with --adopt: their containers are recreated, their volumes (the data) kept. Nothing was changed`);
  }
  if (leftovers.length) {
    say(`  on the host but not in the state (${noState ? 'taken over: --adopt' : 'left by an interrupted deploy'}): ${leftovers.join(', ')}; removing them (their volumes stay)`);
    await onHostDocker(t, ['rm', '--force', ...leftovers]);
  }
  for (const [address, name] of strayNets) {
    say(`  network ${name} exists on the host but not in the state: importing it`);
    await tf('adopt', ['import', '-input=false', '-no-color', address, ids.get(name)!]);
  }
  return leftovers;
}

/** Runs the docker CLI on the host over the same SSH connection settings as the provider. */
async function onHostDocker(t: StackTarget, args: readonly string[]): Promise<string> {
  const r = await runOnHost(t.host.ssh, ['docker', ...args]);
  if (r.code !== 0) {
    throw new StepError(`${t.name}: ssh ${t.host.ssh.user}@${t.host.ssh.address} docker ${args[0]} failed (exit ${r.code}):\n${lastLines(r.stderr)}\n  fix: check SSH access (key, known_hosts) and that ${t.host.ssh.user} may use Docker on ${t.host.name}`);
  }
  return r.stdout.trim();
}
