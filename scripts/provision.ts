#!/usr/bin/env -S node --import tsx
// scripts/provision.ts: from Debian servers to a running, backed-up, audited stack, one step after
// the other (scripts/lib/provision.ts), each with progress and a log file, stopping at the first
// failure with the command that resumes there. Each step is one of Socle's idempotent commands, so
// running it again changes nothing that is right.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { InputError, StepError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { loadCities } from '../stacks/config/load.js';
import { synthesize } from '../stacks/synth.js';
import type { CityConfig } from '../stacks/config/types.js';
import { BUILDABLE } from './lib/images.js';
import { run, runOnHost, type RunResult } from './lib/run.js';
import {
  DEFAULT_OUTDIR, PROVISION_STEPS, SOCLE_ROOT, STEP_TITLES, driftOf, hostProblems, isEmptyPlan, inventoryFor, machinesOf, parseFacts, planSummaries, shownCommand, sshAs, startingContainers, stepCommands, storageHosts, tlsDirectoryOf, unhealthyContainers,
  readSynthesized, type ProvisionPlan, type ProvisionStepId, type StepCommand, type SynthesizedNeeds,
} from './lib/provision.js';

const USAGE = `usage: npm run provision -- --config FILE|DIR [--host NAME] [--backup-key FILE] [--out DIR] [--yes] [--dry-run] [--from STEP] [--logs DIR]
Takes the city's hosts from a fresh Debian install to a stack that serves, is backed up and passes
the audit, in order (each step with progress and a log file; the first failure stops and says how
to resume):
${PROVISION_STEPS.map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.padEnd(9)} ${STEP_TITLES[s]}`).join('\n')}
  --config FILE|DIR   city file, or a directory of city files (one after the other)
  --host NAME         only this host of the city file (a host, or a backup target it prepares)
  --backup-key FILE   SSH private key of the backup runners (FILE.pub beside it: the backup
                      stores accept it), as npm run deploy takes it; needed when the city backs
                      up. Create it once with: ssh-keygen -t ed25519 -N '' -f FILE
  --out DIR           where the deploy synthesizes the stacks (its --out; default: cdktf.out)
  --yes               apply the plan without asking (otherwise it is shown and confirmed)
  --dry-run           print every step and command, touch nothing
A re-run changes nothing that is right: Ansible reports no change, the images are there, the plan
is empty. A plan that changes a stack whose city file did not change is reported as drift.
  --from STEP         start at this step (after fixing what stopped a previous run)
  --logs DIR          where each step's log goes (default: provision-logs/<date>)
  -h, --help          this help
exit status: 0 provisioned, 1 a step failed (its log says why), 2 bad input (nothing done)`;

interface Args { config?: string; host?: string; 'backup-key'?: string; out?: string; yes?: boolean; 'dry-run'?: boolean; from?: string; logs?: string; help?: boolean }

const say = (line: string) => console.error(`provision: ${line}`);
/** How long the smoke step waits for containers still starting (a first start migrates databases). */
const SMOKE_WAIT_S = 300;

/** Runs one command of a step, here or over SSH, its output into the step's log. */
async function runLogged(c: StepCommand, plan: ProvisionPlan, log: NodeJS.WritableStream): Promise<RunResult> {
  log.write(`$ ${shownCommand(c, plan)}\n`);
  const machine = c.host ? machinesOf(plan).find((m) => m.name === c.host!.name)! : undefined;
  const r = machine ? await runOnHost(sshAs(plan.city, machine.ssh, c.host!.as), [c.program, ...c.args]) : await run(c.program, c.args, process.env, (line) => log.write(`${line}\n`));
  if (machine || c.program === 'curl') log.write(r.stdout + r.stderr);
  log.write(`(exit ${r.code})\n`);
  return r;
}

/** Where provision records what it applied (beside the city's state files): stack name to digest. */
function appliedRecord(plan: ProvisionPlan): string {
  return join(plan.city.state.directory ?? SOCLE_ROOT, `${plan.city.commune.slug}.provisioned.json`);
}

/** The digest of each stack as synthesized (cdktf.out, written by the deploy just run). */
function stackDigests(plan: ProvisionPlan): Record<string, string> {
  return Object.fromEntries(plan.hosts.map((h) => {
    const stack = `${plan.city.commune.slug}-${h.name}`;
    const file = join(plan.outdir, 'stacks', stack, 'cdk.tf.json');
    return [stack, existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : ''];
  }));
}

/** Synthesizes the city in a scratch directory (nothing deployed) for what its stacks need. */
function synthesizedNeeds(cityFile: string, city: CityConfig): SynthesizedNeeds {
  const scratch = mkdtempSync(join(tmpdir(), 'socle-provision-'));
  try {
    synthesize({ config: cityFile, outdir: join(scratch, 'cdktf.out') });
    return readSynthesized(join(scratch, 'cdktf.out'), city, BUILDABLE.map((b) => b.key));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
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
async function runStep(step: ProvisionStepId, plan: ProvisionPlan, args: Args, logFile: string, planned: Map<string, string>): Promise<void> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const fail = (why: string) => new StepError(`${why}\n  log: ${logFile}`);
  try {
    // Planned in this run and nothing to change anywhere: applying would only plan again.
    if (step === 'apply' && planned.size === plan.hosts.length && [...planned.values()].every(isEmptyPlan)) {
      say('  every plan is empty: nothing to apply');
      log.write('every plan of the plan step was empty: nothing applied\n');
      return;
    }
    if (step === 'hosts') {
      const backupPublicKey = plan.backupKey ? readFileSync(`${plan.backupKey}.pub`, 'utf8') : undefined;
      writeFileSync(plan.inventory, inventoryFor(plan.city, plan.synthesized.firewall, { only: args.host, backupPublicKey }), { mode: 0o600 });
      log.write(`inventory written: ${plan.inventory}\n`);
    }
    for (const c of stepCommands(step, plan, args.host)) {
      const r = await runLogged(c, plan, log);
      const where = c.host ? `on ${c.host.name}` : 'here';
      if (r.code === 127 || /ENOENT/.test(r.stderr)) throw fail(`${c.program} was not found ${where}: install it (Debian: apt-get install ${c.program === 'ansible-playbook' ? 'ansible' : c.program})`);
      if (step === 'facts') {
        if (r.code !== 0) throw fail(`${c.host!.name} does not answer over SSH as ${sshAs(plan.city, machinesOf(plan).find((m) => m.name === c.host!.name)!.ssh, 'admin').user} (exit ${r.code}): ${r.stderr.trim().split('\n').pop()}; check the host's address in ${plan.city.file}, that hosting.admins[0] exists there with its key authorized, and its key in known_hosts`);
        const problems = hostProblems(c.host!.name, parseFacts(r.stdout), tlsDirectoryOf(plan.city));
        if (problems.length) throw fail(problems.join('\n'));
        continue;
      }
      if (step === 'smoke' && c.host) {
        // Containers just (re)created are still starting: ask again, up to SMOKE_WAIT_S.
        const pending = c.waitFor === 'started' ? startingContainers : unhealthyContainers;
        let ps = r;
        let shown = '';
        for (const deadline = Date.now() + SMOKE_WAIT_S * 1000; ps.code === 0 && pending(ps.stdout).length && Date.now() < deadline;) {
          const waiting = pending(ps.stdout).map((l) => l.split('\t')[0]).join(', ');
          if (waiting !== shown) say(`  ${c.host.name}: waiting for ${(shown = waiting)} to ${c.waitFor === 'started' ? 'start' : 'be healthy'}`);
          await new Promise((done) => setTimeout(done, 5000));
          ps = await runLogged(c, plan, log);
        }
        const bad = c.waitFor === 'started' ? [...startingContainers(ps.stdout), ...ps.stdout.split('\n').filter((l) => /\tExited/.test(l))] : unhealthyContainers(ps.stdout);
        if (ps.code !== 0 || bad.length) throw fail(`${c.host.name}: ${ps.code !== 0 ? `docker ps failed (exit ${ps.code})` : `${c.waitFor === 'started' ? 'not started' : 'not healthy'} after ${SMOKE_WAIT_S} s: ${bad.join('; ')}`}; read docker logs of each there, then run the smoke step again`);
        if (c.waitFor === 'healthy') say(`  ${c.host.name}: ${ps.stdout.trim().split('\n').length} containers healthy`);
        continue;
      }
      if (step === 'smoke' && c.program === 'curl') {
        const url = c.args[c.args.length - 1];
        const status = Number(r.stdout.trim());
        if (r.code !== 0 || !(status >= 200 && status < 400)) throw fail(`${url} ${r.code !== 0 ? `does not answer over HTTPS: ${r.stderr.trim()}` : `answers ${status}`}; read the proxy's logs (docker logs ${plan.city.commune.slug}-proxy on ${plan.city.services.proxy.host}), then run the smoke step again`);
        say(`  ${url}: ${status}`);
        continue;
      }
      if (r.code !== 0) throw fail(`${shownCommand(c, plan)} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
      if (step === 'hosts') {
        const recap = r.stdout.split('\n').filter((l) => /\bok=\d+\s+changed=\d+/.test(l));
        for (const l of recap) say(`  ${l.replace(/\s+/g, ' ').trim()}`);
      }
      if (step === 'plan') {
        const recorded = existsSync(appliedRecord(plan)) ? JSON.parse(readFileSync(appliedRecord(plan), 'utf8')) as Record<string, string> : {};
        const summaries = planSummaries(r.stdout + r.stderr);
        for (const [stack, digest] of Object.entries(stackDigests(plan))) {
          const summary = summaries.get(stack);
          if (summary) planned.set(stack, summary);
          say(`  ${stack}: ${summary ?? 'no plan line (see the log)'}`);
          const drift = driftOf(stack, summary, recorded[stack], digest);
          if (drift) say(`  ${drift}`);
        }
        if (!args.yes) {
          process.stderr.write(r.stderr);
          if (!(await confirmApply())) throw new StepError(`the plan above was not confirmed: nothing applied. Read it, then resume with --from apply (add --yes where nobody can answer)`);
        }
      }
      if (step === 'apply') {
        const file = appliedRecord(plan);
        const recorded = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, string> : {};
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, JSON.stringify({ ...recorded, ...stackDigests(plan) }, null, 2) + '\n');
      }
    }
  } finally {
    await new Promise((done) => log.end(done));
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseFlags<Args>({
    config: { type: 'string' }, host: { type: 'string' }, 'backup-key': { type: 'string' }, out: { type: 'string' }, yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' },
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
  const backupKey = args['backup-key'] ? resolve(args['backup-key']) : undefined;
  const outdir = args.out ? resolve(args.out) : DEFAULT_OUTDIR;
  for (const city of cities) {
    const names = [...city.hosts.map((h) => h.name), ...storageHosts(city).map((m) => m.name)];
    if (args.host && !names.includes(args.host)) throw new InputError(`${city.file}: no host "${args.host}" under hosts, nor a backup target with prepare: true (${names.join(', ')}): give one of those to --host`);
    if (!city.hosting) throw new InputError(`${city.file}: no hosting section: provisioning needs to know who administers the hosts and from where.\n  fix: add hosting: { adminNetworks: [...], admins: [{ name, keys: [...] }], dns: [...], ntp: [...] } (docs/provision.md, docs/config-reference.md)`);
    if (city.services.backup.enabled && !backupKey) throw new InputError(`${city.file} backs up (services.backup): give the runners' key with --backup-key FILE, as npm run deploy takes it\n  fix: ssh-keygen -t ed25519 -N '' -f FILE once, keep FILE on the deploying machine, then --backup-key FILE`);
    if (backupKey && !existsSync(`${backupKey}.pub`)) throw new InputError(`--backup-key ${backupKey}: ${backupKey}.pub does not exist\n  fix: ssh-keygen -t ed25519 -N '' -f ${backupKey}`);
  }
  const steps = PROVISION_STEPS.slice(args.from ? PROVISION_STEPS.indexOf(args.from as ProvisionStepId) : 0);
  const logs = resolve(args.logs ?? join('provision-logs', new Date().toISOString().replace(/[:.]/g, '-')));
  // Every path is absolute by now: the steps' npm commands run from Socle's checkout.
  process.chdir(SOCLE_ROOT);
  for (const city of cities) {
    const plan: ProvisionPlan = {
      city, cityFile: resolve(city.file), hosts: city.hosts.filter((h) => !args.host || h.name === args.host),
      inventory: join(logs, `${city.commune.slug}-inventory.yml`), auditOut: join(logs, `${city.commune.slug}-audit`), backupKey, outdir,
      synthesized: synthesizedNeeds(resolve(city.file), city),
    };
    if (args['dry-run']) {
      console.log(`# ${city.file} (${city.commune.name}): ${plan.hosts.map((h) => h.name).join(', ')}; nothing is run`);
      for (const step of steps) {
        console.log(`[${PROVISION_STEPS.indexOf(step) + 1}/${PROVISION_STEPS.length}] ${step}: ${STEP_TITLES[step]}`);
        if (step === 'hosts') console.log(`  write ${plan.inventory} (from the city file and its synthesized firewall flows)`);
        if (step === 'plan' && !args.yes) console.log('  (the plan is shown and must be confirmed before apply)');
        for (const c of stepCommands(step, plan, args.host)) console.log(`  ${shownCommand(c, plan)}`);
      }
      continue;
    }
    mkdirSync(logs, { recursive: true });
    /** Each stack's plan summary, once the plan step of this run has read it. */
    const planned = new Map<string, string>();
    for (const step of steps) {
      const n = PROVISION_STEPS.indexOf(step) + 1;
      const started = Date.now();
      say(`[${n}/${PROVISION_STEPS.length}] ${city.commune.slug}: ${STEP_TITLES[step]}…`);
      const logFile = join(logs, `${city.commune.slug}-${String(n).padStart(2, '0')}-${step}.log`);
      try {
        await runStep(step, plan, args, logFile, planned);
      } catch (err) {
        if (!(err instanceof StepError)) throw err;
        const again = [['--config', args.config], ['--host', args.host], ['--backup-key', args['backup-key']], ['--out', args.out]].filter(([, v]) => v).flat();
        const resume = `npm run provision -- ${again.join(' ')}${args.yes ? ' --yes' : ''} --from ${step}`;
        throw new StepError(`step ${step} failed for ${city.commune.slug}: ${err.message}\nfix it, then resume there: ${resume}`);
      }
      say(`[${n}/${PROVISION_STEPS.length}] ${step} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    say(`${city.commune.slug} provisioned; logs in ${logs}`);
  }
}

void runCommand(() => main(process.argv.slice(2)), USAGE);
