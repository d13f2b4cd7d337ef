#!/usr/bin/env -S node --import tsx
// scripts/audit.ts: the auditor's report. Proves, from the city file and the stacks Socle
// synthesizes for it (what Terraform will apply), where personal data lives, that no third party
// receives any, and what the citizen audit's findings became: audit.html, audit.json, audit.md.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InputError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { synthesize } from '../stacks/synth.js';
import { auditedCommune } from '../stacks/audit/model.js';
import { runChecks } from '../stacks/audit/checks.js';
import { AUDIT_SCHEMA_FILE, auditDocument, auditHtml, auditMarkdown } from '../stacks/audit/report.js';

const USAGE = `usage: npm run audit -- --config FILE|DIR [--out DIR]
The static audit: from the city file(s) and the stacks synthesized for them (in a scratch
directory: nothing is deployed, cdktf.out is not touched), every store of personal data (host,
site, owner, retention and what enforces it, backups), every flow that leaves a host and its
destination's owner, the egress matrix per container, the policy results with each suppression's
reason, and the legal notice as the proxy serves it. Each check answers a finding of the citizen
audit (F1–F10) and gives its evidence and its fix.
  --config FILE|DIR   a city file, or a directory of city files
  --out DIR           where to write audit.html, audit.json (with audit.schema.json) and audit.md
                      (default: audit-report; a directory holding anything but a previous report
                      is refused)
  -h, --help          this help
exit status: 0 every check passes, 1 a check fails (the report says which and how to fix it),
2 bad input (nothing written)`;

interface Args { config?: string; out?: string; help?: boolean }

const REPORT_FILES = ['audit.html', 'audit.json', 'audit.md', 'audit.schema.json'] as const;

async function main(): Promise<void> {
  const args = parseFlags<Args>({ config: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config is required: the city file, or a directory of city files');
  const out = resolve(args.out ?? 'audit-report');
  if (existsSync(out) && readdirSync(out).some((f) => !(REPORT_FILES as readonly string[]).includes(f))) {
    throw new InputError(`--out ${out} holds files that are not an audit report: refusing to write there\n  fix: choose another --out, or an empty directory`);
  }
  const say = (line: string) => console.error(`audit: ${line}`);
  const scratch = mkdtempSync(join(tmpdir(), 'socle-audit-'));
  try {
    say(`[1/3] reading ${args.config} and synthesizing its stacks (scratch directory, never deployed)…`);
    const started = Date.now();
    const { cities, outdir } = synthesize({ config: args.config, outdir: join(scratch, 'cdktf.out'), reportPolicyErrors: true });
    say(`[2/3] checking ${cities.length} commune(s)…`);
    const communes = cities.map((c) => auditedCommune(c, outdir));
    const results = runChecks(communes);
    const doc = auditDocument(communes, results);
    say('[3/3] writing the report…');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'audit.json'), `${JSON.stringify(doc, null, 2)}\n`);
    copyFileSync(AUDIT_SCHEMA_FILE, join(out, 'audit.schema.json'));
    writeFileSync(join(out, 'audit.md'), auditMarkdown(doc));
    writeFileSync(join(out, 'audit.html'), auditHtml(doc));
    const failed = results.filter((r) => r.status === 'fail');
    for (const r of failed) console.error(`  NON CONFORME ${r.id} (${r.commune}): ${r.evidence[0].replace(/^ÉCHEC : /, '')}${r.evidence.length > 1 ? ` (+${r.evidence.length - 1})` : ''}\n    fix: ${r.fix}`);
    say(`${results.length - failed.length}/${results.length} checks pass, in ${Date.now() - started} ms; report in ${out}/audit.html (audit.json, audit.md)`);
    if (failed.length) {
      console.error(`next: fix what each failed check names, then run npm run audit -- --config ${args.config} again`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await runCommand(main, USAGE);
