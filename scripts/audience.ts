#!/usr/bin/env -S node --import tsx
// scripts/audience.ts: the city's audience measured twice (Matomo's JavaScript tracker and the
// proxy's logs imported into Matomo), compared per page and per day, with the proportional
// correction the citizen audit proposed. Reads Matomo's raw data over SSH on the Matomo host.
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InputError, StepError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { loadCity } from '../stacks/config/load.js';
import { runOnHost } from './lib/run.js';
import { audienceReportCsv, audienceReportText, compareAudience, type AudienceData } from '../services/matomo/audience.js';

const USAGE = `usage: npm run audience -- report --config FILE [--from DAY] [--to DAY] [--format text|csv|json] [--out FILE]
Compares, per day and per page, the page views and visits Matomo counted with its JavaScript
tracker (site 1) and from the proxy's server logs (site 2, imported each night), and prints the
correction factor (logs ÷ tracker) and the tracker's figures corrected by it. Reads Matomo's raw
data (kept for services.matomo.rawDataRetentionDays) over SSH, as the deploy reaches the host.
  --config FILE            the city file
  --from DAY, --to DAY     the period, YYYY-MM-DD (default: the 7 days before today, UTC; the
                           logs of a day are imported the night after it)
  --format F               text (default, in French), csv or json
  --out FILE               write there instead of standard output (never overwritten)
  -h, --help               this help
exit status: 0 ok, 1 Matomo could not be read, 2 bad input`;

interface Args { config?: string; from?: string; to?: string; format?: string; out?: string; help?: boolean }

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const FORMATS = ['text', 'csv', 'json'] as const;

function day(offset: number): string {
  return new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
}

function validDay(value: string, flag: string): string {
  if (!DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)) || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw new InputError(`--${flag} ${value}: not a day; give it as YYYY-MM-DD, e.g. --${flag} ${day(-1)}`);
  }
  return value;
}

async function report(args: Args): Promise<void> {
  if (!args.config) throw new UsageError('--config is required: the city file');
  const from = validDay(args.from ?? day(-7), 'from');
  const to = validDay(args.to ?? day(-1), 'to');
  if (from > to) throw new InputError(`--from ${from} is after --to ${to}: give the earlier day first`);
  const format = (args.format ?? 'text') as typeof FORMATS[number];
  if (!FORMATS.includes(format)) throw new InputError(`--format ${args.format}: use one of ${FORMATS.join(', ')}`);
  const refuseOut = () => new InputError(`--out ${args.out} exists: it is never overwritten; choose another file or move it away`);
  if (args.out && existsSync(args.out)) throw refuseOut();
  const city = loadCity(args.config);
  const matomo = city.services.matomo;
  if (!matomo.enabled) throw new InputError(`${args.config}: services.matomo.enabled is false: this city measures no audience; enable Matomo in the city file and deploy first`);
  if (matomo.image) throw new InputError(`${args.config}: services.matomo.image names an image the city packaged, without Socle's socle-matomo: the report needs Socle's Matomo image`);
  const host = city.hosts.find((h) => h.name === matomo.host)!;
  const container = `${city.commune.slug}-matomo-app`;
  console.error(`audience: reading Matomo's raw data ${from} → ${to} on ${host.name} (docker exec ${container})…`);
  const r = await runOnHost(host.ssh, ['docker', 'exec', container, 'socle-matomo', 'audience-data', from, to]);
  if (r.code !== 0) {
    throw new StepError(`ssh to ${host.name} (${host.ssh.user}@${host.ssh.address}:${host.ssh.port}) and docker exec ${container} socle-matomo audience-data failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}; check that the stack is deployed (npm run deploy -- --config ${args.config}) and the container healthy`);
  }
  const comparison = compareAudience(JSON.parse(r.stdout.trim().split('\n').pop()!) as AudienceData, from, to);
  const text = format === 'json' ? `${JSON.stringify(comparison, null, 2)}\n` : format === 'csv' ? audienceReportCsv(comparison) : audienceReportText(comparison, city.commune.name);
  if (!args.out) {
    process.stdout.write(text);
    return;
  }
  try {
    writeFileSync(args.out, text, { flag: 'wx', mode: 0o640 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refuseOut();
    throw err;
  }
  console.error(`audience: written to ${args.out}`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === '-h' || command === '--help') {
    console.log(USAGE);
    return;
  }
  if (!command) throw new UsageError('a command is required: report');
  if (command !== 'report') throw new UsageError(`unknown command "${command}"; commands: report`);
  const args = parseFlags<Args>({
    config: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' },
    out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, rest);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  await report(args);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runCommand(main, USAGE);
