// Stack benchmark: cold build time and size of every image Socle builds, time from the test city's
// deploy (OpenTofu over SSH, see bench/deploy for its steps) to all healthy, and the idle memory of
// the running stack (docker stats).
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { ensureEngine } from '../scripts/lib/docker-engine.js';
import { buildImages } from '../scripts/lib/images.js';
import { UsageError, runCommand } from '../core/cli.js';
import { DeployedCity, waitAllHealthy } from '../tests/engine/deployed-city.js';
import setup, { TEST_REGISTRY } from '../tests/engine/global-setup.js';

const USAGE = `usage: npm run bench:stack [-- --cached] [--idle-seconds N]
  --cached           reuse the images already built (default: rebuild everything, cold)
  --idle-seconds N   how long the stack idles before docker stats (default 20)
  -h, --help         this help
Needs a Docker engine (started as root when missing). Exit status: 0, or 2 on bad flags.`;

// Targets from the issue, on 2 cores.
const SIZE_LIMIT_MB: Record<string, number> = { base: 120, postgres: 450, mariadb: 450 };
const OTHER_LIMIT_MB = 200;
const HEALTHY_TARGET_S = 60;
const IDLE_TARGET_MB = 600;
const RECOVERY_TARGET_S = 15;
// Naive sizes (debootstrap base + one apt-get install per image, no trimming), for the ratios.
const NAIVE_MB: Record<string, number> = { base: 199, nginx: 299, tor: 295, redis: 295, backup: 308, mariadb: 688, postgres: 711 };

const toMB = (s: string) => {
  const m = /^([\d.]+)\s*([KMG]i?B)/.exec(s.trim());
  if (!m) return 0;
  return Number(m[1]) * ({ KiB: 1 / 1024, KB: 1 / 1000, MiB: 1, MB: 1, GiB: 1024, GB: 1000 } as Record<string, number>)[m[2]];
};

async function main(): Promise<void> {
  let values: { cached?: boolean; 'idle-seconds'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { cached: { type: 'boolean' }, 'idle-seconds': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  const idle = Number(values['idle-seconds'] ?? 20);
  if (!Number.isFinite(idle) || idle < 0) throw new UsageError(`--idle-seconds expects a number of seconds, got ${values['idle-seconds']}`);
  const say = (l: string) => process.stderr.write(`${l}\n`);
  await ensureEngine(say);

  const started = Date.now();
  const images = await buildImages({ registry: TEST_REGISTRY, force: !values.cached, onProgress: say });
  const buildS = (Date.now() - started) / 1000;

  // The test host (sshd, registry with the images just built, stand-in app image, tools).
  await setup();
  let healthyS = 0;
  let stats: Array<{ name: string; mb: number }> = [];
  const recovery: Array<{ name: string; seconds: number }> = [];
  const t0 = Date.now();
  const city = await DeployedCity.up('ville-test');
  const report = { started: city.containers };
  try {
    await waitAllHealthy(report.started, 300);
    healthyS = (Date.now() - t0) / 1000;
    say(`idling ${idle} s before measuring memory`);
    await new Promise((r) => setTimeout(r, idle * 1000));
    const out = (await $({ quiet: true })`docker stats --no-stream --format ${'{{.Name}}\t{{.MemUsage}}'} ${report.started}`).stdout;
    stats = out.trim().split('\n').map((l) => {
      const [name, usage] = l.split('\t');
      return { name, mb: toMB(usage.split('/')[0]) };
    });
    // One container at a time: SIGKILL of its main process, then the time until Docker reports it healthy again.
    for (const name of report.started) {
      const q = $({ quiet: true });
      const restarts = async () => Number((await q`docker inspect --format {{.RestartCount}} ${name}`).stdout);
      const before = await restarts();
      await q`kill -KILL ${(await q`docker inspect --format {{.State.Pid}} ${name}`).stdout.trim()}`;
      const t0 = Date.now();
      while ((await restarts()) === before && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
      await waitAllHealthy([name], 120);
      recovery.push({ name, seconds: (Date.now() - t0) / 1000 });
    }
  } finally {
    await city.down();
  }

  console.log(`images (${values.cached ? 'cached' : 'cold'} build: ${buildS.toFixed(0)} s in all)`);
  console.log(`${'image'.padEnd(10)}${'MB'.padStart(7)}${'limit'.padStart(7)}${'naive'.padStart(7)}${'ratio'.padStart(7)}${'build s'.padStart(9)}`);
  for (const img of images) {
    const limit = SIZE_LIMIT_MB[img.key] ?? OTHER_LIMIT_MB;
    const naive = NAIVE_MB[img.key];
    console.log(`${img.key.padEnd(10)}${img.sizeMB.toFixed(0).padStart(7)}${String(limit).padStart(7)}${(naive ? String(naive) : '-').padStart(7)}${(naive ? (img.sizeMB / naive).toFixed(2) : '-').padStart(7)}${img.seconds.toFixed(1).padStart(9)}  ${img.sizeMB <= limit ? 'ok' : 'over'}`);
  }
  console.log(`\ndeploy --apply -> all healthy: ${healthyS.toFixed(1)} s (target ${HEALTHY_TARGET_S} s: ${healthyS <= HEALTHY_TARGET_S ? 'ok' : 'over'})`);
  console.log('\nidle memory (docker stats)');
  for (const s of stats) console.log(`  ${s.name.padEnd(36)}${s.mb.toFixed(1).padStart(8)} MiB`);
  const core = stats.filter((s) => /proxy-nginx|onion-tor|-db$|redis/.test(s.name)).reduce((n, s) => n + s.mb, 0);
  const all = stats.reduce((n, s) => n + s.mb, 0);
  console.log(`  proxy + Tor + databases + Redis: ${core.toFixed(0)} MiB (target ${IDLE_TARGET_MB}: ${core <= IDLE_TARGET_MB ? 'ok' : 'over'}); all ${stats.length} containers: ${all.toFixed(0)} MiB`);
  console.log(`\nrecovery after SIGKILL, to healthy (target ${RECOVERY_TARGET_S} s)`);
  for (const r of recovery) console.log(`  ${r.name.padEnd(36)}${r.seconds.toFixed(1).padStart(8)} s  ${r.seconds <= RECOVERY_TARGET_S ? 'ok' : 'over'}`);
}

void runCommand(main, USAGE);
