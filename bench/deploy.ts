// Deploy benchmark: the test city deployed the way a city deploys it (npm run deploy: OpenTofu and
// the Docker provider over SSH to this machine, images from the registry on loopback). Prints the
// tool build, init, first apply to all healthy, a no-change plan and a one-setting change, each
// against the old test-only runner (removed with issue 9; measured once on the same machine).
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, runCommand } from '../core/cli.js';
import { buildTools } from '../scripts/lib/tools.js';
import setup from '../tests/engine/global-setup.js';
import { DeployedCity, waitAllHealthy } from '../tests/engine/deployed-city.js';

const USAGE = `usage: npm run bench:deploy [-- --cold-tools]
  --cold-tools   also build OpenTofu and the providers from scratch (empty Go build cache and
                 tools directory: about 8 minutes on 2 cores)
  -h, --help     this help
Needs root on Debian (as the engine tests: Docker engine, sshd, registry). Exit status: 0, or 2 on bad flags.`;

// The old runner (tests/engine/runner.ts, docker CLI from cdk.tf.json) on the same test city and
// machine, measured once before its removal (2026-12-01, 2 cores, 12 containers): docker create +
// start of everything 10.7 s, all healthy 41.3 s; one container recreated to healthy 31.6 s.
const RUNNER = { upToHealthySeconds: 41.3, recreateOneToHealthySeconds: 31.6 };
const TARGETS = { firstApplyToHealthy: 90, noChangePlanPerHost: 10 };

async function main(): Promise<void> {
  let values: { 'cold-tools'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { 'cold-tools': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  const say = (l: string) => process.stderr.write(`${l}\n`);
  const rows: Array<[string, number, string]> = [];

  if (values['cold-tools']) {
    const dir = mkdtempSync(join(tmpdir(), 'socle-bench-tools-'));
    const cache = mkdtempSync(join(tmpdir(), 'socle-bench-gocache-'));
    const previous = process.env.GOCACHE;
    process.env.GOCACHE = cache;
    try {
      const t0 = Date.now();
      const { steps } = await buildTools({ dir, say });
      rows.push(['cold tool build (OpenTofu + 2 providers)', (Date.now() - t0) / 1000, steps.map((s) => `${s.name.replace(/^\[\d\/\d\] /, '')} ${s.seconds.toFixed(0)} s`).join(', ')]);
    } finally {
      if (previous === undefined) delete process.env.GOCACHE;
      else process.env.GOCACHE = previous;
      rmSync(dir, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  }
  await setup();

  const t0 = Date.now();
  const city = await DeployedCity.up('ville-test');
  const applied = (Date.now() - t0) / 1000;
  await waitAllHealthy(city.containers, 300);
  const healthy = (Date.now() - t0) / 1000;
  try {
    const plan = await city.deploy([]);
    const steps = (text: string) => /done in (.*)/.exec(text)?.[1] ?? '';
    const planStep = Number(/plan (\d+\.\d) s/.exec(steps(plan.stdout))?.[1] ?? NaN);
    const init = Number(/init (\d+\.\d) s/.exec(steps(plan.stdout))?.[1] ?? NaN);
    const file = city.city.config;
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace('image: stand-in-app }\n  matomo', 'image: stand-in-app, memoryMiB: 640 }\n  matomo'));
    const t1 = Date.now();
    const change = await city.deploy(['--apply']);
    await waitAllHealthy(city.containers, 300);
    const changed = (Date.now() - t1) / 1000;
    writeFileSync(file, original);
    rows.push(['tofu init (providers from the mirror)', init, '']);
    rows.push(['first apply (deploy --apply, synth included)', applied, '']);
    rows.push(['first apply to all healthy', healthy, ratio(healthy, RUNNER.upToHealthySeconds, `target ${TARGETS.firstApplyToHealthy} s: ${healthy <= TARGETS.firstApplyToHealthy ? 'ok' : 'over'}`)]);
    rows.push(['no-change plan, whole command', plan.seconds, `its plan step ${planStep.toFixed(1)} s (target ${TARGETS.noChangePlanPerHost} s per host: ${plan.seconds <= TARGETS.noChangePlanPerHost ? 'ok' : 'over'})`]);
    rows.push(['one setting changed, applied, healthy', changed, ratio(changed, RUNNER.recreateOneToHealthySeconds, steps(change.stdout))]);
  } finally {
    await city.down();
  }
  console.log(`\n${'step'.padEnd(48)}${'seconds'.padStart(9)}  notes`);
  for (const [step, s, note] of rows) console.log(`${step.padEnd(48)}${s.toFixed(1).padStart(9)}  ${note}`);
}

function ratio(seconds: number, baseline: number, note: string): string {
  return baseline > 0 ? `${(seconds / baseline).toFixed(2)}x the old runner (${baseline.toFixed(1)} s); ${note}` : note;
}

void runCommand(main, USAGE);
