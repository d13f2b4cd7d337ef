#!/usr/bin/env -S node --import tsx
// scripts/provider-mirror.ts: on a build host, builds OpenTofu and the pinned providers from the Go
// module proxy and lays the providers out as a filesystem mirror with its CLI configuration; then
// checks the mirror against the committed lock file. Copy the directory to the deploying machine of
// an air-gapped city and point SOCLE_TOOLS_DIR (or deploy --tools) at it.
import { writeFileSync } from 'node:fs';
import { OPENTOFU, PROVIDER_PINS } from '../stacks/deploy-tools.js';
import { InputError, StepError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { LOCK_FILE, buildTools, checkLock, computeLock, defaultToolsDir } from './lib/tools.js';

const USAGE = `usage: npm run provider-mirror -- [--dir DIR] [--from build|registry] [--relock] [--force] [--dry-run]
  --dir DIR    where to put the tools (default: SOCLE_TOOLS_DIR, or ~/.cache/socle/tools):
               DIR/bin/tofu, DIR/mirror/<registry>/<namespace>/<type>/<version>/linux_amd64/...,
               DIR/socle.tfrc (CLI configuration: the mirror only, no registry)
  --from build     build every tool from the Go module proxy (default)
  --from registry  build OpenTofu, then copy the providers from their registry (a build host
                   with internet access; only for pins that are registry releases)
  --relock     write stacks/terraform.lock.hcl from this mirror's binaries (then commit it)
  --force      build again even when a cached build matches its pin
  --dry-run    print what would be built and where; build nothing
  -h, --help   this help
Pins (stacks/deploy-tools.ts): OpenTofu ${OPENTOFU.version}; ${PROVIDER_PINS.map((p) => `${p.source} ${p.version}`).join('; ')}.
A cold build takes several minutes on 2 cores (Go compiles everything once; later runs use Go's cache).
exit status: 0 ok, 1 a build failed or the mirror does not match the lock file, 2 bad flags`;

interface Args { dir?: string; from?: string; relock?: boolean; force?: boolean; 'dry-run'?: boolean; help?: boolean }

function parse(): Args {
  return parseFlags<Args>({ dir: { type: 'string' }, from: { type: 'string' }, relock: { type: 'boolean' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (args.relock && args['dry-run']) throw new InputError('--relock writes the lock file and --dry-run writes nothing: choose one');
  const from = args.from ?? 'build';
  if (from !== 'build' && from !== 'registry') throw new UsageError(`--from ${from}: expected build or registry`);
  // A registry holds releases only: a pin made from a commit (a pre-release version) is built.
  const unreleased = PROVIDER_PINS.filter((p) => p.version.includes('-'));
  if (from === 'registry' && unreleased.length) {
    throw new InputError(`--from registry: ${unreleased.map((p) => `${p.source} ${p.version}`).join(', ')} is no registry release (a commit the Go module proxy serves; see stacks/deploy-tools.ts).\n  fix: build it: npm run provider-mirror (--from build, the default)`);
  }
  const say = (line: string) => console.log(line);
  const started = Date.now();
  const { tools, steps } = await buildTools({ dir: args.dir ?? defaultToolsDir(), dryRun: args['dry-run'], force: args.force, say, providersFrom: from });
  if (args['dry-run']) {
    say(`[dry-run] then: tofu providers lock -fs-mirror=${tools.mirror} and compare with ${LOCK_FILE}`);
    return;
  }
  const built = steps.filter((s) => !s.cached);
  say(`tools ready in ${((Date.now() - started) / 1000).toFixed(0)} s${built.length ? ` (built: ${built.map((s) => `${s.name.replace(/^\[\d+\/\d+\] /, '')} ${s.seconds.toFixed(0)} s`).join(', ')})` : ' (all cached)'}`);
  if (args.relock) {
    writeFileSync(LOCK_FILE, await computeLock(tools));
    say(`wrote ${LOCK_FILE}: commit it`);
    return;
  }
  const lock = await checkLock(tools);
  if (!lock.ok) {
    throw new StepError(`the mirror does not match the committed lock file ${LOCK_FILE}:\n${lock.differences.map((d) => `  ${d}`).join('\n')}\n`
      + '  fix: build with the Go toolchain the lock file was made with (docs/deploy.md), or, after checking why the bytes differ, run npm run provider-mirror -- --relock and commit the lock file');
  }
  say(`mirror matches ${LOCK_FILE}`);
  say(`use it: SOCLE_TOOLS_DIR=${tools.dir} npm run deploy -- --config FILE (or TOFU_CLI_CONFIG_FILE=${tools.cliConfig} tofu ...)`);
}

void runCommand(main, USAGE);
