#!/usr/bin/env -S node --import tsx
// scripts/provision.ts: from Debian servers to a running, backed-up, audited stack, one step after
// the other (scripts/lib/provision.ts), each with progress and a log file, stopping at the first
// failure with the command that resumes there. Each step is one of Socle's idempotent commands, so
// running it again changes nothing that is right.
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { InputError, StepError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { loadCities } from '../stacks/config/load.js';
import type { CityConfig } from '../stacks/config/types.js';
import { run, runOnHost, type RunResult } from './lib/run.js';
import {
  PROVISION_STEPS, SOCLE_ROOT, STEP_TITLES, hostProblems, inventoryFor, parseFacts, shownCommand, stepCommands, unhealthyContainers,
  type ProvisionPlan, type ProvisionStepId, type StepCommand,
} from './lib/provision.js';

const USAGE = `usage: npm run provision -- --config FILE|DIR [--host NAME] [--yes] [--dry-run] [--from STEP] [--logs DIR]
Takes the city's hosts from a fresh Debian install to a stack that serves, is backed up and passes
the audit, in order (each step with progress and a log file; the first failure stops and says how
to resume):
${PROVISION_STEPS.map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.padEnd(9)} ${STEP_TITLES[s]}`).join('\n')}
  --config FILE|DIR   city file, or a directory of city files (one after the other)
  --host NAME         only this host of the city file
  --yes               apply the plan without asking (otherwise it is shown and confirmed)
  --dry-run           print every step and command, touch nothing
  --from STEP         start at this step (after fixing what stopped a previous run)
  --logs DIR          where each step's log goes (default: provision-logs/<date>)
  -h, --help          this help
exit status: 0 provisioned, 1 a step failed (its log says why), 2 bad input (nothing done)`;

interface Args { config?: string; host?: string; yes?: boolean; 'dry-run'?: boolean; from?: string; logs?: string; help?: boolean }

const say = (line: string) => console.error(`provision: ${line}`);

/** Runs one command of a step, here or over SSH, its output into the step's log. */
async function runLogged(c: StepCommand, city: CityConfig, log: NodeJS.WritableStream): Promise<RunResult> {
  const host = c.host ? city.hosts.find((h) => h.name === c.host)! : undefined;
  log.write(`$ ${shownCommand(c, city.hosts)}\n`);
  const r = host ? await runOnHost(host.ssh, [c.program, ...c.args]) : await run(c.program, c.args, process.env, (line) => log.write(`${line}\n`));
  if (host) log.write(r.stdout + r.stderr);
  log.write(`(exit ${r.code})\n`);
  return r;
}

async function confirmApply(): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^(y|yes|o|oui)$/i.test((await rl.question('provision: apply this plan? [y/N] ')).trim());
  } finally {
    rl.close();
  }
}

/** Runs one step for one city; throws a StepError saying what failed and where the log is. */
async function runStep(step: ProvisionStepId, plan: ProvisionPlan, args: Args, logFile: string): Promise<void> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const fail = (why: string) => new StepError(`${why}\n  log: ${logFile}`);
  try {
    if (step === 'hosts') writeFileSync(plan.inventory, inventoryFor(plan.city, args.host));
    for (const c of stepCommands(step, plan)) {
      const r = await runLogged(c, plan.city, log);
      const where = c.host ? `on ${c.host}` : 'here';
      if (r.code === 127 || /ENOENT/.test(r.stderr)) throw fail(`${c.program} was not found ${where}: install it (Debian: apt-get install ${c.program === 'ansible-playbook' ? 'ansible' : c.program})`);
      if (step === 'facts') {
        if (r.code !== 0) throw fail(`${c.host} does not answer over SSH (exit ${r.code}): ${r.stderr.trim().split('\n').pop()}; check hosts[].ssh in ${plan.city.file} and that the deploying key is authorized`);
        const problems = hostProblems(c.host!, parseFacts(r.stdout));
        if (problems.length) throw fail(problems.join('\n'));
        continue;
      }
      if (step === 'smoke' && c.host) {
        const bad = unhealthyContainers(r.stdout);
        if (r.code !== 0 || bad.length) throw fail(`${c.host}: ${r.code !== 0 ? `docker ps failed (exit ${r.code})` : `not healthy: ${bad.join('; ')}`}; read docker logs of each, then run the smoke step again`);
        continue;
      }
      if (r.code !== 0) throw fail(`${shownCommand(c, plan.city.hosts)} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
      if (step === 'plan' && !args.yes) {
        process.stderr.write(r.stdout);
        if (!(await confirmApply())) throw new StepError(`the plan above was not confirmed: nothing applied. Read it, then resume with --from apply (add --yes where nobody can answer)`);
      }
    }
  } finally {
    await new Promise((done) => log.end(done));
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseFlags<Args>({
    config: { type: 'string' }, host: { type: 'string' }, yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' },
    from: { type: 'string' }, logs: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config FILE|DIR is required');
  if (args.from !== undefined && !(PROVISION_STEPS as readonly string[]).includes(args.from)) throw new UsageError(`--from must be one of ${PROVISION_STEPS.join(', ')}; got "${args.from}"`);
  // The city file is checked whole before anything is reached: bad input changes nothing.
  const cities = loadCities(args.config);
  for (const city of cities) {
    if (args.host && !city.hosts.some((h) => h.name === args.host)) throw new InputError(`${city.file}: no host "${args.host}" under hosts (${city.hosts.map((h) => h.name).join(', ')}): give one of those to --host`);
  }
  const steps = PROVISION_STEPS.slice(args.from ? PROVISION_STEPS.indexOf(args.from as ProvisionStepId) : 0);
  const logs = resolve(args.logs ?? join('provision-logs', new Date().toISOString().replace(/[:.]/g, '-')));
  // Every path is absolute by now: the steps' npm commands run from Socle's checkout.
  process.chdir(SOCLE_ROOT);
  for (const city of cities) {
    const plan: ProvisionPlan = {
      city, cityFile: resolve(city.file), hosts: city.hosts.filter((h) => !args.host || h.name === args.host),
      inventory: join(logs, `${city.commune.slug}-inventory.yml`), auditOut: join(logs, `${city.commune.slug}-audit`),
    };
    if (args['dry-run']) {
      console.log(`# ${city.file} (${city.commune.name}): ${plan.hosts.map((h) => h.name).join(', ')}; nothing is run`);
      for (const step of steps) {
        console.log(`[${PROVISION_STEPS.indexOf(step) + 1}/${PROVISION_STEPS.length}] ${step}: ${STEP_TITLES[step]}`);
        if (step === 'hosts') console.log(`  write ${plan.inventory} (from the city file)`);
        if (step === 'plan' && !args.yes) console.log('  (the plan is shown and must be confirmed before apply)');
        for (const c of stepCommands(step, plan)) console.log(`  ${shownCommand(c, city.hosts)}`);
      }
      continue;
    }
    mkdirSync(logs, { recursive: true });
    for (const step of steps) {
      const n = PROVISION_STEPS.indexOf(step) + 1;
      const started = Date.now();
      say(`[${n}/${PROVISION_STEPS.length}] ${city.commune.slug}: ${STEP_TITLES[step]}…`);
      const logFile = join(logs, `${city.commune.slug}-${String(n).padStart(2, '0')}-${step}.log`);
      try {
        await runStep(step, plan, args, logFile);
      } catch (err) {
        if (!(err instanceof StepError)) throw err;
        const resume = `npm run provision -- --config ${args.config}${args.host ? ` --host ${args.host}` : ''} --from ${step}`;
        throw new StepError(`step ${step} failed for ${city.commune.slug}: ${err.message}\nfix it, then resume there: ${resume}`);
      }
      say(`[${n}/${PROVISION_STEPS.length}] ${step} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    say(`${city.commune.slug} provisioned; logs in ${logs}`);
  }
}

void runCommand(() => main(process.argv.slice(2)), USAGE);
