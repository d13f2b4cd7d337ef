// Audit benchmark: wall time of the static audit (npm run audit, a fresh process each run) on the
// example city and on a directory of 100 communes, against the synth of the same input alone (the
// baseline: the audit synthesizes first, so the ratio is what the checks and reports add).
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseFlags, runCommand } from '../core/cli.js';
import { communesDir } from './lib/communes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
// Targets from the audit issue.
const EXAMPLE_MAX_S = 2;
const HUNDRED_MAX_S = 20;
const LIVE_PAGE_MAX_S = 10;

const USAGE = `usage: npm run bench:audit [-- --runs N] [--live]
Times the static audit (npm run audit, each run a fresh process) on examples/ville-exemple.yaml and
on 100 generated communes, and the synth of the same input (npm run synth) as the baseline.
Targets: example under ${EXAMPLE_MAX_S} s, 100 communes under ${HUNDRED_MAX_S} s.
  --runs N    runs per case, the median is reported (default 3)
  --live      also deploy the test city on this machine's engine (as the engine tests do: the
              Docker engine, the deploy tools and the images are set up first) and time
              npm run audit --live per page crawled (target: under ${LIVE_PAGE_MAX_S} s a page), against the
              same DNS and HTTPS checks made by hand with dig, curl and testssl (Debian's
              testssl.sh, dnsutils), all against a resolver on loopback: no packet leaves
  -h, --help  this help
Exit status: 0 (it reports, it does not test), 2 on bad flags.`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Seconds of one run of `script` in a fresh process; audit's exit 1 (a failed check) is a result, not an error. */
function timed(script: string, args: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(TSX, [join(ROOT, script), ...args], { cwd: ROOT, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${script} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return seconds;
}

/** Seconds of `command` (a failure is part of the timing: testssl exits non-zero on findings). */
function timedCommand(command: string, args: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 600_000 });
  if (r.error) throw new Error(`${command}: ${r.error.message} (apt-get install -y testssl.sh dnsutils)`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function benchLive(runs: number, work: string): Promise<void> {
  // The engine, the tools and the images as the engine tests have them; the test city deployed.
  const { default: setup } = await import('../tests/engine/global-setup.js');
  const { DeployedCity, waitAllHealthy } = await import('../tests/engine/deployed-city.js');
  const { startResolver } = await import('../tests/engine/dns.js');
  await setup();
  const city = await DeployedCity.up('ville-test');
  const names = ['participer.ville-test.fr', 'enquetes.ville-test.fr'];
  const resolver = startResolver(15354, { zones: ['ville-test.fr'], addresses: Object.fromEntries(names.map((n) => [n, '127.0.0.1'])), nameServers: { 'ville-test.fr': 'ns1.ville-test.fr' } });
  const ca = join(city.city.tls, 'ca.pem');
  try {
    await waitAllHealthy(city.containers, 300);
    const audit: number[] = [];
    let pages = 0;
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`bench:audit: live audit of the test city, run ${i + 1}/${runs}…\n`);
      const out = join(work, `live-${i}`);
      audit.push(timed('scripts/audit.ts', ['--config', city.city.config, '--out', out, '--live', '--dns', resolver.address, '--ca', ca]));
      pages = JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).communes[0].live.pages.length;
    }
    const manual: number[] = [];
    const [host, port] = resolver.address.split(':');
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`bench:audit: the same checks by hand (dig, curl, testssl), run ${i + 1}/${runs}…\n`);
      let s = timedCommand('dig', [`@${host}`, '-p', port, 'NS', 'ville-test.fr', '+short']);
      for (const n of names) {
        s += timedCommand('dig', [`@${host}`, '-p', port, 'CNAME', n, '+short']) + timedCommand('dig', [`@${host}`, '-p', port, 'A', n, '+short']);
        for (const path of ['/', '/.well-known/security.txt']) s += timedCommand('curl', ['-sS', '-o', '/dev/null', '-D', '-', '--resolve', `${n}:18443:127.0.0.1`, '--cacert', ca, `https://${n}:18443${path}`]);
        s += timedCommand('testssl', ['--quiet', '--color', '0', '--warnings', 'off', '--nodns', 'none', '--ip', '127.0.0.1', '--add-ca', ca, '--protocols', '--headers', `https://${n}:18443/`]);
      }
      manual.push(s);
    }
    const a = median(audit);
    const m = median(manual);
    console.log(`\nlive audit of the test city (${names.length} names, ${pages} pages crawled in Chromium)`);
    console.log(`  npm run audit --live   ${a.toFixed(1)} s, ${(a / pages).toFixed(2)} s a page (target ${LIVE_PAGE_MAX_S} s: ${a / pages <= LIVE_PAGE_MAX_S ? 'met' : 'OVER'})`);
    console.log(`  by hand (dig, curl, testssl; DNS and HTTPS only, no crawl)   ${m.toFixed(1)} s`);
    console.log(`  ratio audit ÷ by hand   ${(a / m).toFixed(2)} (the audit also synthesizes, runs the static checks and crawls every page)`);
  } finally {
    resolver.stop();
    await city.down();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags<{ runs?: string; live?: boolean; help?: boolean }>({ runs: { type: 'string', short: 'n' }, live: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const runs = Number(flags.runs ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs ${flags.runs}: a whole number of runs, 1 or more`);
  const work = mkdtempSync(join(tmpdir(), 'socle-bench-audit-'));
  try {
    const cases = [
      { name: 'example', config: join(ROOT, 'examples/ville-exemple.yaml'), target: EXAMPLE_MAX_S },
      { name: '100 communes', config: communesDir(work, 100), target: HUNDRED_MAX_S },
    ];
    console.log(`${'case'.padEnd(14)}${'audit s'.padStart(9)}${'synth s'.padStart(9)}${'audit/synth'.padStart(13)}${'target s'.padStart(10)}  verdict`);
    for (const c of cases) {
      const audit: number[] = [];
      const synth: number[] = [];
      for (let i = 0; i < runs; i++) {
        process.stderr.write(`bench:audit: ${c.name}, run ${i + 1}/${runs}…\n`);
        audit.push(timed('scripts/audit.ts', ['--config', c.config, '--out', join(work, `report-${i}`)]));
        synth.push(timed('main.ts', ['--config', c.config, '--out', join(work, `synth-${i}`)]));
      }
      const a = median(audit);
      const s = median(synth);
      console.log(`${c.name.padEnd(14)}${a.toFixed(2).padStart(9)}${s.toFixed(2).padStart(9)}${(a / s).toFixed(2).padStart(13)}${String(c.target).padStart(10)}  ${a <= c.target ? 'meets the target' : 'OVER the target'}`);
    }
    console.log('\nbaseline: npm run synth of the same input, which the audit runs first (ratio = audit ÷ synth, median of runs)');
    if (flags.live) await benchLive(runs, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await runCommand(main, USAGE);
