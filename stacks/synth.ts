import { SocleError } from '../core/errors.js';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { App, Aspects } from 'cdktf';
import { loadCities } from './config/load.js';
import type { CityConfig } from './config/types.js';
import { buildCity, type CityBuildOptions, type CityStacks } from './city.js';
import { LOCK_FILE } from './deploy-tools.js';
import { bridgePrefix, type HostStack } from './host-stack.js';
import { mailRecordFiles, mailRecords, mailRecordsDir } from '../services/mail-gateway/records.js';
import { SoclePack, findingsCsv, formatFindings, type Finding } from './policy/socle-pack.js';

/** The policy pack found unsuppressed errors: nothing was written. Exit status 1. */
class PolicyError extends SocleError {
  readonly exitStatus = 1;
  constructor(public readonly findings: readonly Finding[], writtenTo?: string) {
    const outcome = writtenTo ? `the output in ${writtenTo} must not be deployed` : 'nothing was written';
    super(`${formatFindings(findings)}\n${findings.length} policy error(s); ${outcome}. Fix them, or suppress each one with a written reason.`);
    this.name = 'PolicyError';
  }
}

/** The output directory holds something else than a previous synth: bad input, exit status 2. */
class OutputDirError extends SocleError {
  readonly exitStatus = 2;
  constructor(outdir: string) {
    super(`${outdir} exists and does not look like a Socle output (no manifest.json): refusing to replace it\n  fix: choose another --out, or remove it yourself if it is disposable`);
    this.name = 'OutputDirError';
  }
}

/** A suppression in a city file points at nothing: bad input, exit status 2. */
class SuppressionError extends SocleError {
  readonly exitStatus = 2;
  constructor(message: string) {
    super(message);
    this.name = 'SuppressionError';
  }
}

export interface SynthOptions extends CityBuildOptions {
  /** A city file, or a directory of city files. */
  readonly config: string;
  /** @default 'cdktf.out' */
  readonly outdir?: string;
  /** Write nothing; return the app and findings (benchmarks, tests). @default false */
  readonly dryRun?: boolean;
  /**
   * Write the output even with unsuppressed policy errors, for a report that shows them (npm run
   * audit synthesizes into a scratch directory that is never deployed). @default false
   */
  readonly reportPolicyErrors?: boolean;
}

export interface SynthResult {
  readonly cities: readonly CityConfig[];
  readonly builds: readonly CityStacks[];
  readonly pack: SoclePack;
  readonly app: App;
  readonly outdir: string;
}

/** Builds every commune's stacks in one app and checks them against the policy pack. */
export function buildApp(cities: readonly CityConfig[], outdir: string, options: CityBuildOptions = {}): { app: App; builds: CityStacks[]; pack: SoclePack } {
  // Stack traces in annotations point at cdktf internals, not at the city file: leave them out.
  const app = new App({ outdir, skipValidation: false, stackTraces: false });
  const builds = cities.map((city) => buildCity(app, city, options));
  const pack = new SoclePack({
    suppressions: cities.flatMap((c) => c.policy.suppressions.map((s, i) => ({ ...s, commune: c.commune.slug, origin: `${c.locate(['policy', 'suppressions', i])}: policy.suppressions.${i}` }))),
  });
  // cdktf invokes aspects from each stack down, so an aspect on the App itself would never run.
  for (const build of builds) for (const stack of build.stacks.values()) Aspects.of(stack).add(pack);
  pack.check(app);
  return { app, builds, pack };
}

/**
 * `app.synth()`, then fails on unsuppressed policy errors the Aspect found during it. Needed
 * because the cdktf CLI runs apps with CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS set, which turns
 * error annotations into mere output.
 */
export function synthOrFail(app: App, pack: SoclePack): void {
  app.synth();
  if (pack.errors.length > 0) throw new PolicyError(pack.errors, app.outdir);
}

/**
 * Validates the city config, builds the stacks, runs the policy, and only then writes the output:
 * into a staging directory first, swapped into place when complete, so a failure never leaves a
 * half-written cdktf.out.
 */
export function synthesize(options: SynthOptions): SynthResult {
  const outdir = resolve(options.outdir ?? 'cdktf.out');
  const cities = loadCities(options.config);
  // The output is replaced wholesale: never do that to a directory Socle did not write.
  if (existsSync(outdir) && readdirSync(outdir).length > 0 && !existsSync(join(outdir, 'manifest.json'))) throw new OutputDirError(outdir);
  const staging = `${outdir}.staging-${process.pid}`;
  mkdirSync(dirname(outdir), { recursive: true });
  try {
    // cdktf's App creates its outdir when constructed: build into the staging directory.
    const { app, builds, pack } = buildApp(cities, staging, options);
    if (pack.unusedSuppressions.length > 0) {
      throw new SuppressionError(pack.unusedSuppressions.map((s) =>
        `${s.origin}: suppression of ${s.id} on "${s.path}" matches no resource\n  fix: use a construct path printed in cdktf.out/policy-report.<stack>.csv, or remove the suppression`).join('\n'));
    }
    if (pack.errors.length > 0 && !options.reportPolicyErrors) throw new PolicyError(pack.errors);
    if (options.dryRun) return { cities, builds, pack, app, outdir };
    mkdirSync(staging, { recursive: true });
    if (options.reportPolicyErrors) app.synth();
    else synthOrFail(app, pack);
    const reports = pack.reportsByStack();
    for (const build of builds) {
      for (const stack of build.stacks.values()) {
        const name = stack.node.id;
        const report = reports.get(name) ?? [];
        writeFileSync(join(staging, `policy-report.${name}.json`), JSON.stringify(report, null, 2) + '\n');
        writeFileSync(join(staging, `policy-report.${name}.csv`), findingsCsv(report));
        // Which sensitive variable the deploy step fills from which reference (never a value).
        writeFileSync(join(staging, 'stacks', name, 'socle-secrets.json'), JSON.stringify(build.secrets.get(name) ?? [], null, 2) + '\n');
        // The host firewall's flows for this commune, as the Ansible role takes them (-e @file).
        writeFileSync(join(staging, 'stacks', name, 'ansible-vars.json'), JSON.stringify(firewallVars(stack), null, 2) + '\n');
      }
    }
    // What the city's mail team publishes (DNS records, Zimbra commands): Socle cannot do it itself.
    for (const city of cities) {
      const records = mailRecords(city);
      const dir = join(staging, mailRecordsDir(records));
      mkdirSync(dir, { recursive: true });
      for (const [name, content] of Object.entries(mailRecordFiles(records))) writeFileSync(join(dir, name), content);
    }
    keepTerraformWorkdirs(outdir, staging);
    // Every stack starts from the committed lock file: init takes exactly the pinned provider bytes.
    for (const build of builds) for (const stack of build.stacks.values()) copyFileSync(LOCK_FILE, join(staging, 'stacks', stack.node.id, '.terraform.lock.hcl'));
    writeFileSync(join(staging, 'socle-cities.json'), JSON.stringify(cities.map((c, i) => ({ file: c.file, slug: c.commune.slug, stacks: [...builds[i].stacks.keys()].map((h) => `${c.commune.slug}-${h}`), externalParties: c.externalParties })), null, 2) + '\n');
    if (existsSync(outdir)) rmSync(outdir, { recursive: true, force: true });
    renameSync(staging, outdir);
    return { cities, builds, pack, app, outdir };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Carries each stack's terraform working state (`.terraform/`, `.terraform.lock.hcl`) over from
 * the previous output: the provider lock file pins what was verified, and init need not run again.
 */
function keepTerraformWorkdirs(previous: string, next: string): void {
  const stacks = join(previous, 'stacks');
  if (!existsSync(stacks)) return;
  for (const name of readdirSync(stacks)) {
    if (!existsSync(join(next, 'stacks', name))) continue;
    for (const entry of ['.terraform', '.terraform.lock.hcl']) {
      const from = join(stacks, name, entry);
      if (existsSync(from)) cpSync(from, join(next, 'stacks', name, entry), { recursive: true, verbatimSymlinks: true });
    }
  }
}

/** `docker_host__egress_communes` for one stack: the commune's bridges and the flows they may use. */
function firewallVars(stack: HostStack): { docker_host__egress_communes: unknown[] } {
  const commune = stack.communeSlug;
  return {
    docker_host__egress_communes: [{
      commune,
      table: `socle_egress_${commune.replace(/[^a-z0-9]/g, '_')}`,
      bridge_prefix: bridgePrefix(commune),
      bridges: stack.bridges,
      flows: stack.egress.map((f) => ({ bridge: f.bridge, network: f.network, to: f.to, port: f.port ?? null, protocol: f.protocol ?? 'tcp', reason: f.reason })),
    }],
  };
}
