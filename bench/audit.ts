// Audit benchmark: wall time of the static audit (npm run audit, a fresh process each run) on the
// example city and on a directory of 100 communes, against the synth of the same input alone (the
// baseline: the audit synthesizes first, so the ratio is what the checks and reports add).
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

const USAGE = `usage: npm run bench:audit [-- --runs N]
Times the static audit (npm run audit, each run a fresh process) on examples/ville-exemple.yaml and
on 100 generated communes, and the synth of the same input (npm run synth) as the baseline.
Targets: example under ${EXAMPLE_MAX_S} s, 100 communes under ${HUNDRED_MAX_S} s.
  --runs N    runs per case, the median is reported (default 3)
  -h, --help  this help
The live part (--live) is not in this version of npm run audit: it is not measured.
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

async function main(): Promise<void> {
  const flags = parseFlags<{ runs?: string; help?: boolean }>({ runs: { type: 'string', short: 'n' }, help: { type: 'boolean', short: 'h' } });
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
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await runCommand(main, USAGE);
