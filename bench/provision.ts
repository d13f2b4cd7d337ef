// Provisioning benchmark, the north star: three fresh Debian hosts (tests/engine/debian-hosts.ts:
// systemd and sshd in containers of this machine's engine, nothing configured) to every container
// healthy, a backup recorded and the audit passed, with one command (npm run provision), then a
// re-run that changes nothing. Prints each step's time, cold and re-run, against the targets.
// It reports; it does not test: exit status 0 whatever the figures, 1 when provisioning fails
// (there is then no figure to give), 2 on bad flags. No packet leaves this machine.
import { spawnSync } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StepError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { PROVISION_STEPS } from '../scripts/lib/provision.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
// Targets from the provisioning issue.
const COLD_MAX_S = 30 * 60;
const RERUN_MAX_S = 3 * 60;

const USAGE = `usage: npm run bench:provision [-- --keep]
Sets up this machine as the engine tests do (Docker engine, deploy tools, Socle's images), starts
three fresh Debian hosts (front, apps, stockage) and the city registry on a network it makes, then
times npm run provision on tests/fixtures/ville-prov.yaml: cold, then a re-run.
Targets: cold under ${COLD_MAX_S / 60} min, re-run under ${RERUN_MAX_S / 60} min, on 2 cores.
  --keep      leave the hosts running afterwards (to look at them)
  -h, --help  this help
Exit status: 0 (it reports, it does not test), 1 provisioning failed, 2 bad flags.`;

interface Run { readonly seconds: number; readonly steps: ReadonlyMap<string, number> }

/** One npm run provision, a fresh process; each step's time as the command printed it. */
function provision(cityFile: string, backupKey: string, secrets: Readonly<Record<string, string>>, label: string, extra: readonly string[] = [], expectedCode = 0): Run {
  process.stderr.write(`bench:provision: ${label}…\n`);
  const started = process.hrtime.bigint();
  const r = spawnSync(TSX, [join(ROOT, 'scripts/provision.ts'), '--config', cityFile, '--backup-key', backupKey, '--out', join(dirname(cityFile), 'cdktf.out'), '--yes', '--logs', join(dirname(cityFile), `journaux-${label}`), ...extra], {
    encoding: 'utf8', env: { ...process.env, ...secrets }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== expectedCode) throw new StepError(`provisioning (${label}) failed, exit ${r.status}:\n${(r.stdout + r.stderr).slice(-4000)}`);
  const steps = new Map([...r.stderr.matchAll(/^provision: \[\d\/\d\] (\w+) done in ([\d.]+) s$/gm)].map((m) => [m[1], Number(m[2])]));
  return { seconds, steps };
}

async function main(): Promise<void> {
  const args = parseFlags<{ keep?: boolean; help?: boolean }>({ keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (process.getuid?.() !== 0) throw new UsageError('bench:provision makes containers, a network and firewall rules on this machine: run it as root');
  const { default: setup } = await import('../tests/engine/global-setup.js');
  const { installConsultation, prepareProvisionCity, removeDebianHosts } = await import('../tests/engine/debian-hosts.js');
  const { TEST_SECRETS } = await import('../tests/engine/test-city.js');
  await setup();
  process.stderr.write('bench:provision: three fresh Debian hosts…\n');
  const { hosts, cityFile, backupKey } = await prepareProvisionCity();
  try {
    // The stand-in consultation app installs nothing (a real Decidim migrates): the cold run stops
    // at the first backup, which refuses an empty database; the app's installation is then done
    // (not timed) and the run resumed at that step. Cold is both runs together.
    const stopped = provision(cityFile, backupKey, TEST_SECRETS, 'cold', [], 1);
    await installConsultation(hosts);
    const resumed = provision(cityFile, backupKey, TEST_SECRETS, 'cold-resumed', ['--from', 'smoke']);
    const cold: Run = { seconds: stopped.seconds + resumed.seconds, steps: new Map([...stopped.steps, ...resumed.steps]) };
    const again = provision(cityFile, backupKey, TEST_SECRETS, 're-run');
    const row = (step: string) => `  ${step.padEnd(9)} ${(cold.steps.get(step) ?? 0).toFixed(1).padStart(7)} s   ${(again.steps.get(step) ?? 0).toFixed(1).padStart(7)} s`;
    console.log(`npm run provision, three fresh Debian hosts (front, apps, stockage), ${new Date().toISOString().slice(0, 10)}`);
    console.log('  step         cold      re-run');
    for (const step of PROVISION_STEPS) console.log(row(step));
    console.log(`  total     ${cold.seconds.toFixed(1).padStart(7)} s   ${again.seconds.toFixed(1).padStart(7)} s`);
    const verdict = (s: number, max: number) => `${(s / max).toFixed(2)} of the ${max / 60} min target: ${s <= max ? 'meets it' : 'OVER'}`;
    console.log(`cold:   ${(cold.seconds / 60).toFixed(1)} min, ${verdict(cold.seconds, COLD_MAX_S)}`);
    console.log(`re-run: ${(again.seconds / 60).toFixed(1)} min, ${verdict(again.seconds, RERUN_MAX_S)}; ${(again.seconds / cold.seconds).toFixed(2)} of the cold run`);
  } finally {
    if (!args.keep) await removeDebianHosts();
  }
}

void runCommand(main, USAGE);
