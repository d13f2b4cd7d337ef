#!/usr/bin/env -S npx tsx
// Socle: synthesizes a city's Terraform stacks (one per host) from its YAML file, after checking
// the file and the policy pack. Also the app `cdktf synth` runs (see cdktf.json).
import { parseArgs } from 'node:util';
import { synthesize } from './stacks/synth.js';
import { UsageError, runCommand } from './core/cli.js';
import { readSummary, formatSummary } from './stacks/summary.js';
import { mailRecords, mailRecordsSummary } from './services/mail-gateway/records.js';

const DEFAULT_CONFIG = 'examples/ville-exemple.yaml';

const USAGE = `usage: npm start                       synthesize the bundled example city (${DEFAULT_CONFIG})
       npm run synth -- --config FILE|DIR [--out DIR] [--quiet]
       cdktf synth [--hcl]             same app, config from SOCLE_CONFIG (default: the example)

  --config FILE|DIR  a city file, or a directory of city files (one commune each)
  --out DIR          where to write the stacks (default: cdktf.out, or CDKTF_OUTDIR)
  --quiet            print only errors
  --timing           print the time spent synthesizing (in this process) on stderr
  -h, --help         this help

Writes cdktf.out/stacks/<commune>-<host>/cdk.tf.json, a policy report per stack, what the city's
mail team publishes (cdktf.out/mail/<commune>/: DNS records, Zimbra commands), and prints a
summary. Deploy each stack with: terraform -chdir=cdktf.out/stacks/<stack> init && ... apply
exit status: 0 ok, 1 policy errors or failure, 2 bad input (flags, city file, suppressions)`;

function main(): void {
  let values: { config?: string; out?: string; quiet?: boolean; timing?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { config: { type: 'string', short: 'c' }, out: { type: 'string', short: 'o' }, quiet: { type: 'boolean', short: 'q' }, timing: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true, allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = values.config ?? process.env.SOCLE_CONFIG ?? DEFAULT_CONFIG;
  const outdir = values.out ?? process.env.CDKTF_OUTDIR ?? 'cdktf.out';
  const started = process.hrtime.bigint();
  // cdktf captures a stack trace for every token it creates; mapping each one through tsx's source
  // maps costs a quarter of the synth time. Errors raised by Socle itself carry their own message.
  process.setSourceMapsEnabled(false);
  const result = synthesize({ config, outdir });
  process.setSourceMapsEnabled(true);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (values.timing) console.error(`synth: ${ms.toFixed(0)} ms, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
  if (!values.quiet) {
    // `cdktf synth --hcl` writes cdk.tf instead of the JSON the summary reads.
    if (process.env.SYNTH_HCL_OUTPUT === 'true') console.log('HCL output: see cdk.tf in each stack directory');
    else console.log(formatSummary(readSummary(result.outdir)));
    for (const city of result.cities) console.log(mailRecordsSummary(mailRecords(city)).join('\n'));
    console.log(`\nsynthesized ${result.builds.reduce((n, b) => n + b.stacks.size, 0)} stack(s) for ${result.cities.length} commune(s) into ${outdir} in ${ms.toFixed(0)} ms`);
    console.log(`next: review ${outdir}/policy-report.*.csv, then npm run deploy -- --config ${config} (a plan; --apply to apply it)`);
  }
}

void runCommand(main, USAGE);
