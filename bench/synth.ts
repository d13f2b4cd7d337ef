// Synthesis benchmark: wall time and peak RSS of `main.ts` (in-process synth) on the example city,
// a 30-host city and directories of 10/50/100 communes, compared with the `cdktf synth` CLI.
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { UsageError, runCommand } from '../core/cli.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { communesDir, loadExample } from './lib/communes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLE = join(ROOT, 'examples/ville-exemple.yaml');
const CDKTF = join(ROOT, 'node_modules/.bin/cdktf');
const GNU_TIME = '/usr/bin/time';
const COMMUNE_SIZES = [10, 50, 100] as const;

// Targets from the performance issue.
const EXAMPLE_MAX_S = 1.5;
const EXAMPLE_MAX_MB = 300;
const HUNDRED_MAX_S = 15;
// Marginal per-commune cost at 100 over the one at 10: above this, growth is not linear.
const LINEAR_MAX_RATIO = 1.5;

const USAGE = `usage: npm run bench:synth [-- --runs N] [--no-cli]
       node --import tsx bench/synth.ts [--runs N] [--no-cli]

Measures wall time and peak RSS of synthesizing, each run in a fresh process under GNU time:
  example       ${'examples/ville-exemple.yaml'}
  30 hosts      one commune spread over 30 hosts (generated)
  N communes    a directory of N copies of the example, N = ${COMMUNE_SIZES.join(', ')} (generated)
and the same through \`cdktf synth\` for the example and the ${COMMUNE_SIZES.at(-1)}-commune directory.

  --runs N    runs per case, the median is reported (default 3)
  --no-cli    skip the cdktf CLI cases
  -h, --help  this help

Needs GNU time (${GNU_TIME}; apt-get install -y time). Exit status: 0 (it reports, it does not
test), 2 on bad flags, 1 if it cannot run at all.`;

interface Sample { readonly wallS: number; readonly rssMB: number; readonly synthS?: number }
interface Failure { readonly failed: string }
type Outcome = { readonly samples: readonly Sample[] } | Failure;

interface Case {
  readonly name: string;
  readonly kind: 'in-process' | 'cli';
  readonly config: string;
  /** Communes in the config, for the per-commune figures. */
  readonly communes: number;
}


function options(): { runs: number; cli: boolean } {
  let values: { runs?: string; 'no-cli'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { runs: { type: 'string', short: 'n' }, 'no-cli': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true, allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new UsageError(`--runs expects an integer from 1 to 50, got ${JSON.stringify(values.runs)}`);
  return { runs, cli: !values['no-cli'] };
}

// ---------------------------------------------------------------------------------------------
// Generated configs

/** One commune on 30 hosts: every service on its own machine, so cross-host wiring is exercised. */
function thirtyHostCity(dir: string): string {
  const city = loadExample();
  const pad = (n: number) => String(n).padStart(2, '0');
  city.hosts = Array.from({ length: 30 }, (_, i) => ({
    name: `h${pad(i + 1)}`,
    ssh: { user: 'socle', address: `10.30.0.${i + 11}` },
    site: `Site ${pad(i + 1)}, baie ${(i % 4) + 1}`,
    owner: city.commune.legalEntity,
  }));
  const s = city.services;
  s.proxy.host = 'h01';
  s.onion.host = 'h01';
  s.consultation.host = 'h02';
  s.limesurvey.host = 'h03';
  s.matomo.host = 'h04';
  s.backup.store = { host: 'h30' };
  const file = join(dir, 'ville-30-hotes.yaml');
  writeFileSync(file, stringify(city));
  return file;
}

// ---------------------------------------------------------------------------------------------
// Measurement

/** One run in a fresh process tree under GNU time; %M is the peak RSS of its largest process. */
function measure(c: Case, work: string): Sample | Failure {
  const out = mkdtempSync(join(work, 'out-'));
  const timeFile = join(work, 'time.txt');
  const command = c.kind === 'in-process'
    ? [process.execPath, '--import', 'tsx', 'main.ts', '--config', c.config, '--out', join(out, 'cdktf.out'), '--quiet', '--timing']
    : [CDKTF, 'synth', '--output', join(out, 'cdktf.out')];
  // -o keeps GNU time's line apart from the program's own stderr.
  const result = spawnSync(GNU_TIME, ['-o', timeFile, '-f', '%e %M', ...command], {
    cwd: ROOT,
    env: { ...process.env, SOCLE_CONFIG: c.config, CHECKPOINT_DISABLE: '1' },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  rmSync(out, { recursive: true, force: true });
  if (result.error) return { failed: result.error.message };
  if (result.status !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-8).join('\n');
    return { failed: `exit ${result.status}\n${tail}` };
  }
  // GNU time may prefix "Command exited with non-zero status"; the figures are on the last line.
  const [wall, maxKiB] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  // main.ts --timing: the synthesis itself, without Node and module start-up.
  const inner = /synth: (\d+) ms/.exec(result.stderr);
  return { wallS: wall, rssMB: maxKiB / 1024, synthS: inner ? Number(inner[1]) / 1000 : undefined };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---------------------------------------------------------------------------------------------
// Report

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

function main(): void {
  const { runs, cli } = options();
  if (!existsSync(GNU_TIME)) {
    console.error(`${GNU_TIME} not found: install GNU time (apt-get update && apt-get install -y time) and run again.`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'socle-bench-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  const started = Date.now();
  try {
    const configs = join(work, 'configs');
    mkdirSync(configs);
    const dirs = new Map(COMMUNE_SIZES.map((n) => [n, communesDir(configs, n)]));
    const largest = COMMUNE_SIZES.at(-1)!;
    const cases: Case[] = [
      { name: 'example', kind: 'in-process', config: EXAMPLE, communes: 1 },
      { name: '30 hosts', kind: 'in-process', config: thirtyHostCity(configs), communes: 1 },
      ...COMMUNE_SIZES.map((n): Case => ({ name: `${n} communes`, kind: 'in-process', config: dirs.get(n)!, communes: n })),
      ...(cli ? [
        { name: 'example', kind: 'cli', config: EXAMPLE, communes: 1 },
        { name: `${largest} communes`, kind: 'cli', config: dirs.get(largest)!, communes: largest },
      ] satisfies Case[] : []),
    ];

    // Unmeasured warm-up: the first tsx run compiles and caches every module, and the first run
    // after a checkout reads node_modules from disk; either would skew the first sample by seconds.
    const warmups: Case[] = [cases[0], ...(cli ? [cases.find((c) => c.kind === 'cli')!] : [])];
    for (const c of warmups) {
      process.stderr.write(`warm-up: ${c.name} (${c.kind})...`);
      const r = measure(c, work);
      process.stderr.write('failed' in r ? ` failed: ${r.failed}\n` : ` ${r.wallS.toFixed(2)} s\n`);
    }

    const total = cases.length * runs;
    let done = 0;
    const outcomes = new Map<Case, Outcome>();
    for (const c of cases) {
      const samples: Sample[] = [];
      for (let r = 1; r <= runs; r++) {
        const s = measure(c, work);
        done++;
        if ('failed' in s) {
          process.stderr.write(`[${done}/${total}] ${c.name} (${c.kind}) run ${r}/${runs}: FAILED ${s.failed}\n`);
          // A config that fails once fails every time: skip the other runs of this case.
          outcomes.set(c, s);
          done += runs - r;
          break;
        }
        samples.push(s);
        process.stderr.write(`[${done}/${total}] ${c.name} (${c.kind}) run ${r}/${runs}: ${s.wallS.toFixed(2)} s, ${s.rssMB.toFixed(0)} MB\n`);
      }
      if (!outcomes.has(c)) outcomes.set(c, { samples });
    }

    const med = (c: Case | undefined): Sample | undefined => {
      const o = c && outcomes.get(c);
      if (!o || 'failed' in o) return undefined;
      const inner = o.samples.map((s) => s.synthS).filter((x): x is number => x !== undefined);
      return { wallS: median(o.samples.map((s) => s.wallS)), rssMB: median(o.samples.map((s) => s.rssMB)), synthS: inner.length ? median(inner) : undefined };
    };
    const find = (name: string, kind: Case['kind']) => cases.find((c) => c.name === name && c.kind === kind);

    console.log(`Socle synth benchmark: median of ${runs} run(s) per case, each in a fresh process (after one unmeasured warm-up)`);
    console.log('peak RSS = GNU time %M: the largest single process of the tree (cdktf spawns the app as a child), not their sum\n');
    console.log('synth s = time main.ts --timing reports for the synthesis itself, without Node and module start-up\n');
    const header = `${pad('case', 24)}${lpad('wall s', 8)}${lpad('synth s', 9)}${lpad('peak RSS MB', 13)}  ${pad('target', 22)}verdict`;
    console.log(header);
    console.log('-'.repeat(header.length + 4));
    for (const c of cases) {
      const m = med(c);
      let target = '';
      let ok: boolean | undefined;
      if (c.kind === 'in-process' && c.name === 'example') {
        target = `< ${EXAMPLE_MAX_S} s, < ${EXAMPLE_MAX_MB} MB`;
        ok = m && m.wallS < EXAMPLE_MAX_S && m.rssMB < EXAMPLE_MAX_MB;
      } else if (c.kind === 'in-process' && c.communes === 100) {
        target = `< ${HUNDRED_MAX_S} s`;
        ok = m && m.wallS < HUNDRED_MAX_S;
      }
      const verdict = !m ? 'FAILED' : ok === undefined ? '' : ok ? 'ok' : 'over';
      const wall = m ? m.wallS.toFixed(2) : '-';
      const rss = m ? m.rssMB.toFixed(0) : '-';
      const synth = m?.synthS !== undefined ? m.synthS.toFixed(2) : '-';
      console.log(`${pad(`${c.name} (${c.kind === 'cli' ? 'cdktf CLI' : 'main.ts'})`, 24)}${lpad(wall, 8)}${lpad(synth, 9)}${lpad(rss, 13)}  ${pad(target, 22)}${verdict}`);
    }

    // Growth: raw ms/commune includes process start and module loading, paid once whatever N, so it
    // falls with N even when synthesis is linear. The marginal cost over the 1-commune example
    // removes that constant; its ratio 100-vs-10 is ~1 when the cost grows linearly.
    const one = med(find('example', 'in-process'));
    console.log('\ngrowth with the number of communes (in-process)');
    console.log(`${pad('communes', 10)}${lpad('wall s', 8)}${lpad('ms/commune', 12)}${lpad('marginal ms/commune', 22)}`);
    const marginal = new Map<number, number>();
    for (const n of COMMUNE_SIZES) {
      const m = med(find(`${n} communes`, 'in-process'));
      if (!m) { console.log(`${pad(String(n), 10)}${lpad('-', 8)}${lpad('-', 12)}${lpad('-', 22)}`); continue; }
      const perCommune = (m.wallS * 1000) / n;
      const extra = one ? ((m.wallS - one.wallS) * 1000) / (n - 1) : undefined;
      if (extra !== undefined) marginal.set(n, extra);
      console.log(`${pad(String(n), 10)}${lpad(m.wallS.toFixed(2), 8)}${lpad(perCommune.toFixed(0), 12)}${lpad(extra === undefined ? '-' : extra.toFixed(0), 22)}`);
    }
    const first = COMMUNE_SIZES[0];
    const m1 = med(find(`${first} communes`, 'in-process'));
    const mN = med(find(`${largest} communes`, 'in-process'));
    if (m1 && mN) {
      const rawRatio = (mN.wallS / largest) / (m1.wallS / first);
      console.log(`per-commune cost ${largest} vs ${first}: raw ${rawRatio.toFixed(2)}x`
        + (marginal.has(first) && marginal.has(largest)
          ? `, marginal ${(marginal.get(largest)! / marginal.get(first)!).toFixed(2)}x  (target: linear, marginal <= ${LINEAR_MAX_RATIO}x: ${marginal.get(largest)! / marginal.get(first)! <= LINEAR_MAX_RATIO ? 'ok' : 'over'})`
          : ''));
    }

    if (cli) {
      console.log('\ncdktf CLI vs in-process (time ratio; the CLI runs main.ts without --quiet, so it also prints the summary)');
      for (const name of ['example', `${largest} communes`]) {
        const a = med(find(name, 'cli'));
        const b = med(find(name, 'in-process'));
        console.log(`${pad(name, 14)}${a && b ? `${(a.wallS / b.wallS).toFixed(2)}x  (+${(a.wallS - b.wallS).toFixed(2)} s)` : '-'}`);
      }
    }
    console.log(`\nbenchmark took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    cleanup();
  }
}

void runCommand(main, USAGE);
