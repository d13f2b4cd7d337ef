// Builds the deploy tools from the Go module proxy and lays the providers out as a filesystem
// mirror with a CLI configuration, exactly what an air-gapped city needs. Builds are cached by pin
// (a stamp beside each binary), so a second run costs a few file reads.
import { copyFileSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { $ } from 'zx';
import { LOCK_FILE, OPENTOFU, PLATFORM, PROVIDER_PINS, REGISTRY_HOSTS, type GoBuild, type ProviderPin } from '../../stacks/deploy-tools.js';

export { LOCK_FILE };
import { StepError } from '../../core/errors.js';


/** Where the tools live on this machine: SOCLE_TOOLS_DIR, or ~/.cache/socle/tools. */
export function defaultToolsDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SOCLE_TOOLS_DIR ?? join(homedir(), '.cache/socle/tools'));
}

/** The files of a tool set, wherever it was built. */
export interface ToolSet {
  readonly dir: string;
  /** The OpenTofu binary. */
  readonly tofu: string;
  /** The provider filesystem mirror. */
  readonly mirror: string;
  /** CLI configuration: providers from the mirror only, never from a registry. */
  readonly cliConfig: string;
}

export function toolSet(dir: string): ToolSet {
  return { dir, tofu: join(dir, 'bin/tofu'), mirror: join(dir, 'mirror'), cliConfig: join(dir, 'socle.tfrc') };
}

/** `<mirror>/<host>/<ns>/<type>/<version>/<platform>/terraform-provider-<type>_v<version>`. */
export function mirrorPath(mirror: string, host: string, pin: ProviderPin): string {
  const type = pin.source.split('/')[1];
  return join(mirror, host, pin.source, pin.version, PLATFORM, `terraform-provider-${type}_v${pin.version}`);
}

export interface BuildStep {
  readonly name: string;
  readonly seconds: number;
  readonly cached: boolean;
}

export interface BuildOptions {
  readonly dir?: string;
  /** Print the commands, run nothing. */
  readonly dryRun?: boolean;
  /** Build again even when the stamp matches. */
  readonly force?: boolean;
  readonly say?: (line: string) => void;
  /** Providers built from Go modules (default), or copied from their registry by `tofu providers mirror`. */
  readonly providersFrom?: 'build' | 'registry';
}

const GO_ENV = { GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };

/** What a binary was built from: when this changes, the binary is built again. */
function stampOf(build: GoBuild, ldflags: string, goVersion: string): string {
  return JSON.stringify({ module: build.module, version: build.moduleVersion, package: build.package, ldflags, go: goVersion });
}

async function goVersion(): Promise<string> {
  const r = await $({ quiet: true, nothrow: true })`go env GOVERSION`;
  if (r.exitCode !== 0) {
    throw new StepError('go is not installed on this machine: the deploy tools are built from the Go module proxy.\n  fix: install Go (1.26 or later) and make sure `go env GOPROXY` reaches a Go module proxy, or copy a tools directory built elsewhere (SOCLE_TOOLS_DIR)');
  }
  return r.stdout.trim();
}

/**
 * `go build` of one module version: the module is downloaded from the proxy into the module cache,
 * copied, and built as the main module there, so its own `replace` directives apply (OpenTofu has
 * one, which `go install module@version` refuses).
 */
async function goBuild(build: GoBuild, out: string, options: BuildOptions, label: string): Promise<BuildStep> {
  const ldflags = `-s -w ${build.versionFlags ?? ''}`.trim();
  const say = options.say ?? (() => undefined);
  const go = options.dryRun ? 'go (dry run)' : await goVersion();
  const stamp = `${out}.stamp`;
  const wanted = stampOf(build, ldflags, go);
  if (!options.force && existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) {
    say(`${label}: up to date (${build.module}@${build.moduleVersion})`);
    return { name: label, seconds: 0, cached: true };
  }
  const commands = [
    `go mod download -json ${build.module}@${build.moduleVersion}`,
    `(cd <module dir copy> && go build -trimpath -buildvcs=false -ldflags '${ldflags}' -o ${out} ${build.package})`,
  ];
  if (options.dryRun) {
    for (const c of commands) say(`${label}: [dry-run] ${c}`);
    return { name: label, seconds: 0, cached: false };
  }
  const started = Date.now();
  say(`${label}: downloading ${build.module}@${build.moduleVersion} from the Go module proxy`);
  const download = await $({ quiet: true, nothrow: true, env: { ...process.env, ...GO_ENV } })`go mod download -json ${`${build.module}@${build.moduleVersion}`}`;
  const info = safeJson(download.stdout);
  if (download.exitCode !== 0 || !info?.Dir) {
    throw new StepError(`${label}: ${commands[0]} failed: ${info?.Error ?? download.stderr.trim()}\n  fix: check that this machine reaches a Go module proxy (go env GOPROXY) serving that exact version`);
  }
  // A fixed source directory per module version: Go's build cache then serves a rebuild.
  const work = join(dirname(out), '.src', `${build.module.replace(/\//g, '_')}@${build.moduleVersion}`);
  try {
    const src = join(work, 'src');
    rmSync(work, { recursive: true, force: true });
    cpSync(info.Dir, src, { recursive: true });
    await $({ quiet: true })`chmod -R u+w ${src}`;
    mkdirSync(dirname(out), { recursive: true });
    say(`${label}: go build ${build.package} (${go}; a cold build takes minutes on 2 cores)`);
    const r = await $({ quiet: true, nothrow: true, cwd: src, env: { ...process.env, ...GO_ENV } })`go build -trimpath -buildvcs=false -ldflags ${ldflags} -o ${`${out}.new`} ${build.package}`;
    if (r.exitCode !== 0) throw new StepError(`${label}: go build failed:\n${r.stderr.trim().split('\n').slice(-15).join('\n')}`);
    rmSync(out, { force: true });
    copyFileSync(`${out}.new`, out);
    rmSync(`${out}.new`);
    writeAtomically(stamp, wanted);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  say(`${label}: built in ${seconds.toFixed(0)} s`);
  return { name: label, seconds, cached: false };
}

/**
 * A new file renamed over the old one: a reader (a deploy running meanwhile) sees the old or the
 * new content, never half of it, and a hard link to the old file (a copied tools directory) keeps
 * the old content instead of being written through.
 */
function writeAtomically(file: string, content: string): void {
  writeFileSync(`${file}.new`, content);
  renameSync(`${file}.new`, file);
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The CLI configuration that takes every provider from the mirror and none from a registry. */
function cliConfigText(mirror: string): string {
  return [
    '# Written by Socle (scripts/lib/tools.ts): providers come from this mirror only.',
    'provider_installation {',
    '  filesystem_mirror {',
    `    path    = ${JSON.stringify(mirror)}`,
    `    include = [${REGISTRY_HOSTS.map((h) => JSON.stringify(`${h}/*/*`)).join(', ')}]`,
    '  }',
    '  direct {',
    '    exclude = ["*/*"]',
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Builds OpenTofu and every pinned provider (or reuses the cached builds), lays out the mirror
 * under both registry host names, writes the CLI configuration and returns the tool set.
 */
export async function buildTools(options: BuildOptions = {}): Promise<{ tools: ToolSet; steps: BuildStep[] }> {
  const tools = toolSet(options.dir ?? defaultToolsDir());
  const say = options.say ?? (() => undefined);
  const steps: BuildStep[] = [];
  const total = PROVIDER_PINS.length + 1;
  steps.push(await goBuild(OPENTOFU, tools.tofu, options, `[1/${total}] tofu ${OPENTOFU.version}`));
  if (options.providersFrom === 'registry') {
    await mirrorFromRegistry(tools, options);
    if (!options.dryRun) writeAtomically(tools.cliConfig, cliConfigText(tools.mirror));
    return { tools, steps };
  }
  for (const [i, pin] of PROVIDER_PINS.entries()) {
    const built = join(tools.dir, 'build', `terraform-provider-${pin.name}_v${pin.version}`);
    steps.push(await goBuild({ ...pin, versionFlags: `-X main.version=${pin.version}` }, built, options, `[${i + 2}/${total}] provider ${pin.source} ${pin.version}`));
    for (const host of REGISTRY_HOSTS) {
      const target = mirrorPath(tools.mirror, host, pin);
      if (options.dryRun) {
        say(`  [dry-run] ${target}`);
        continue;
      }
      mkdirSync(dirname(target), { recursive: true });
      if (existsSync(target) && statSync(target).ino === statSync(built).ino) continue;
      rmSync(target, { force: true });
      linkSync(built, target);
    }
  }
  if (!options.dryRun) writeAtomically(tools.cliConfig, cliConfigText(tools.mirror));
  say(`${options.dryRun ? '[dry-run] ' : ''}mirror ${tools.mirror}, CLI configuration ${tools.cliConfig}`);
  return { tools, steps };
}

/** `tofu providers mirror` of the pinned versions, from their registry (needs internet access). */
async function mirrorFromRegistry(tools: ToolSet, options: BuildOptions): Promise<void> {
  const say = options.say ?? (() => undefined);
  say(`${options.dryRun ? '[dry-run] ' : ''}tofu providers mirror -platform=${PLATFORM} ${tools.mirror} (${PROVIDER_PINS.map((p) => `${p.source} ${p.version}`).join(', ')})`);
  if (options.dryRun) return;
  const work = mkdtempSync(join(tmpdir(), 'socle-registry-mirror-'));
  try {
    writeFileSync(join(work, 'main.tf.json'), lockConfig());
    const r = await $({ quiet: true, nothrow: true, cwd: work, env: { ...process.env, CHECKPOINT_DISABLE: '1' } })`${tools.tofu} providers mirror -platform=${PLATFORM} ${tools.mirror}`;
    if (r.exitCode !== 0) throw new StepError(`tofu providers mirror failed:\n${r.stderr.trim()}\n  fix: this needs the registries over the internet; without it, build the providers: --from build`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A throwaway configuration requiring every pinned provider under both registry host names. */
function lockConfig(): string {
  const required: Record<string, { source: string; version: string }> = {};
  for (const pin of PROVIDER_PINS) {
    for (const host of REGISTRY_HOSTS) required[`${pin.name}-${host.split('.')[1]}`] = { source: `${host}/${pin.source}`, version: pin.version };
  }
  return JSON.stringify({ terraform: { required_providers: required } }, null, 2);
}

/** The lock file OpenTofu computes for the providers in a mirror (hashes of those exact binaries). */
export async function computeLock(tools: ToolSet): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'socle-lock-'));
  try {
    writeFileSync(join(work, 'main.tf.json'), lockConfig());
    const r = await $({ quiet: true, nothrow: true, cwd: work, env: { ...process.env, TF_CLI_CONFIG_FILE: tools.cliConfig, CHECKPOINT_DISABLE: '1' } })`${tools.tofu} providers lock -fs-mirror=${tools.mirror} -platform=${PLATFORM}`;
    if (r.exitCode !== 0) throw new StepError(`tofu providers lock failed:\n${r.stderr.trim()}`);
    return readFileSync(join(work, '.terraform.lock.hcl'), 'utf8');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Provider address → hashes, from a lock file's text. */
function lockHashes(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of text.matchAll(/provider "([^"]+)" \{[\s\S]*?hashes = \[([\s\S]*?)\]/g)) {
    out.set(m[1], [...m[2].matchAll(/"([^"]+)"/g)].map((h) => h[1]).sort());
  }
  return out;
}

/**
 * Compares the committed lock file with the mirror's binaries. A difference means the providers
 * built here are not the bytes the lock file pins (another Go toolchain, or another version).
 */
export async function checkLock(tools: ToolSet): Promise<{ ok: boolean; differences: string[] }> {
  if (!existsSync(LOCK_FILE)) return { ok: false, differences: [`${LOCK_FILE} does not exist`] };
  const committed = lockHashes(readFileSync(LOCK_FILE, 'utf8'));
  const computed = lockHashes(await computeLock(tools));
  const differences: string[] = [];
  for (const [address, hashes] of computed) {
    const pinned = committed.get(address);
    if (!pinned) differences.push(`${address}: not in the lock file`);
    else if (!hashes.some((h) => pinned.includes(h))) differences.push(`${address}: mirror has ${hashes.join(', ')}, lock file pins ${pinned.join(', ')}`);
  }
  for (const address of committed.keys()) if (!computed.has(address)) differences.push(`${address}: in the lock file, not in the mirror`);
  return { ok: differences.length === 0, differences };
}
