// Invitation letters benchmark: wall time and peak memory of `invitations generate` end to end for
// a mid-sized commune (80,000 addresses, 84,000 codes), in a fresh process under GNU time. The
// address list is synthetic French addresses, with accents, written to a temporary CSV.
// It reports; it does not test: exit status 0 whatever the figures, 2 on bad flags.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StepError, UsageError, runCommand } from '../core/cli.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GNU_TIME = '/usr/bin/time';

// Targets from the issue, on 2 cores.
const MAX_S = 30;
const MAX_MB = 500;

const USAGE = `usage: npm run bench:invitations [-- --addresses N] [--codes N] [--layout c5-window|dl-label] [--keep]
       node --import tsx bench/invitations.ts [same options]

Times \`invitations generate\` end to end (read the CSV, draw codes, shuffle, write codes.pdf,
envelopes.pdf, the LimeSurvey file and the manifest) under GNU time, after one unmeasured small run
that warms tsx's cache.

  --addresses N   synthetic addresses (default 80000)
  --codes N       codes (default 84000)
  --layout NAME   envelope layout (default c5-window: one page per address, the heavier one)
  --keep          keep the output directory and print where it is
  -h, --help      this help

Needs GNU time (${GNU_TIME}; apt-get install -y time). Exit status: 0 (it reports, it does not
test), 2 on bad flags, 1 if it cannot run at all.`;

const FIRST = ['Hélène', 'Noël', 'Zoé', 'Gaëlle', 'Jérôme', 'Françoise', 'Anaïs', 'Benoît', 'Cécile', 'Loïc', 'Maëlle', 'Côme'];
const LAST = ['Bézier', 'Lefèvre', 'Œillet', 'Dupré', 'Châtelain', 'Bréhat', 'Mérieux', 'Légaré', 'Pérès', 'Guérin', 'Thébault'];
const STREETS = ["rue de l'Église", 'avenue Jean Jaurès', 'place de la Libération', 'allée des Érables', 'quai Saint-Éloi', 'impasse du Château', 'boulevard de la Forêt'];
const CITIES = [['69001', 'Lyon'], ['69100', 'Villeurbanne'], ['69300', 'Caluire-et-Cuire'], ['69500', 'Bron'], ['69200', 'Vénissieux']];

/** n distinct addresses: a running number in the street line keeps them apart. */
function addressCsv(file: string, n: number): void {
  const rows = ['name,address1,address2,postcode,city'];
  for (let i = 0; i < n; i++) {
    const [postcode, city] = CITIES[i % CITIES.length];
    const extra = i % 5 === 0 ? `Bâtiment ${'ABCDE'[i % 5]}, appt ${i % 97}` : '';
    rows.push(`${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]},"${1 + (i % 240)} ${STREETS[i % STREETS.length]} n°${i}","${extra}",${postcode},${city}`);
  }
  writeFileSync(file, `${rows.join('\n')}\n`);
}

interface Measure { readonly wallS: number; readonly cpuS: number; readonly rssMB: number; readonly steps: string[] }

function generate(csv: string, out: string, codes: number, layout: string, timeFile?: string): Measure {
  const command = [process.execPath, '--import', 'tsx', 'scripts/invitations.ts', 'generate', '--addresses', csv, '--codes', String(codes),
    '--out', out, '--survey-url', 'https://enquetes.ville-exemple.fr/index.php/123456', '--layout', layout, '--quiet', '--timing',
    '--onion', 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz2345.onion', '--valid-from', '2027-01-10', '--valid-until', '2027-02-10'];
  const started = Date.now();
  // -o keeps GNU time's line apart from the program's own output.
  const r = timeFile
    ? spawnSync(GNU_TIME, ['-o', timeFile, '-f', '%e %M %U %S', ...command], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    : spawnSync(command[0], command.slice(1), { cwd: ROOT, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new StepError(`generate failed (exit ${r.status}): ${r.error?.message ?? r.stderr.trim().split('\n').slice(-5).join('\n')}`);
  // generate --timing: one "step: N s" line per step on stderr.
  const steps = r.stderr.split('\n').filter((l) => /: [\d.]+ s$/.test(l));
  if (!timeFile) return { wallS: (Date.now() - started) / 1000, cpuS: 0, rssMB: 0, steps };
  // %M is the peak RSS of the process: the workers are threads of it, so it covers them.
  const [wall, maxKiB, user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wallS: wall, cpuS: user + system, rssMB: maxKiB / 1024, steps };
}

function main(): void {
  let values: { addresses?: string; codes?: string; layout?: string; keep?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { addresses: { type: 'string' }, codes: { type: 'string' }, layout: { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true, allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  const addresses = Number(values.addresses ?? 80_000);
  const codes = Number(values.codes ?? 84_000);
  if (!Number.isInteger(addresses) || addresses < 1) throw new UsageError(`--addresses expects a whole number, got ${values.addresses}`);
  if (!Number.isInteger(codes) || codes < addresses) throw new UsageError(`--codes expects a whole number of at least --addresses, got ${values.codes}`);
  const layout = values.layout ?? 'c5-window';
  if (!existsSync(GNU_TIME)) throw new StepError(`${GNU_TIME} not found: install GNU time (apt-get update && apt-get install -y time) and run again.`);

  const work = mkdtempSync(join(tmpdir(), 'socle-bench-invitations-'));
  try {
    const csv = join(work, 'adresses.csv');
    addressCsv(csv, addresses);
    const warmCsv = join(work, 'warm-up.csv');
    addressCsv(warmCsv, 20);
    process.stderr.write('warm-up run (20 addresses)...');
    process.stderr.write(` ${generate(warmCsv, join(work, 'warm-up'), 25, layout).wallS.toFixed(1)} s\n`);
    process.stderr.write(`measured run (${addresses.toLocaleString('en-US')} addresses, ${codes.toLocaleString('en-US')} codes, ${layout})...`);
    const out = join(work, 'out');
    // Other work on the machine slows the run down: the load is printed with the figures.
    const load = loadavg();
    const m = generate(csv, out, codes, layout, join(work, 'time.txt'));
    process.stderr.write(' done\n');
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const size = (f: string) => `${(statSync(join(out, f)).size / 1e6).toFixed(0)} MB`;

    console.log(`Socle invitations benchmark: generate, ${addresses.toLocaleString('en-US')} addresses and ${codes.toLocaleString('en-US')} codes, end to end, one fresh process under GNU time`);
    console.log(`  wall time   ${m.wallS.toFixed(1)} s    target < ${MAX_S} s     ${m.wallS < MAX_S ? 'ok' : 'over'} (${((100 * m.wallS) / MAX_S).toFixed(0)}% of target)`);
    console.log(`  CPU time    ${m.cpuS.toFixed(1)} s    (user + system, all threads; load average before the run: ${load.map((l) => l.toFixed(1)).join(' ')})`);
    console.log(`  peak RSS    ${m.rssMB.toFixed(0)} MB   target < ${MAX_MB} MB   ${m.rssMB < MAX_MB ? 'ok' : 'over'} (${((100 * m.rssMB) / MAX_MB).toFixed(0)}% of target)`);
    console.log(`  codes.pdf      ${manifest.layout.codes.sheets.toLocaleString('en-US')} pages, ${size('codes/codes.pdf')}`);
    console.log(`  envelopes.pdf  ${manifest.layout.envelopes.sheets.toLocaleString('en-US')} pages, ${size('envelopes/envelopes.pdf')} (${layout})`);
    console.log(`  code length    ${manifest.codes.length} characters, odds ${manifest.codes.odds.toExponential(1)} for ${manifest.codes.guesses.toLocaleString('en-US')} guesses`);
    console.log(`  steps (wall): ${m.steps.join(', ')}`);
    if (values.keep) console.log(`  output kept in ${out}`);
  } finally {
    if (!values.keep) rmSync(work, { recursive: true, force: true });
  }
}

void runCommand(main, USAGE);
