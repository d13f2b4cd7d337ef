#!/usr/bin/env -S node --import tsx
// scripts/deploy.ts: synthesize a city, then plan (and apply) each host's stack with plain
// terraform or OpenTofu. Secrets go from the city file's references to TF_VAR_* variables of the
// terraform process only: never printed. The plan file holds them and is deleted after apply.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { synthesize } from '../stacks/synth.js';
import { InputError, StepError, UsageError, runCommand } from '../stacks/cli.js';
import type { SecretBinding } from '../stacks/city.js';

const USAGE = `usage: npm run deploy -- --config FILE|DIR [--stack NAME]... [--apply] [--tofu] [--backup-key FILE] [--dry-run]
  --config FILE|DIR   city file, or a directory of city files
  --stack NAME        only this stack (repeatable); default: every stack of the config
  --apply             apply the plan (default: plan only, so a human reads it first)
  --tofu              use OpenTofu (tofu) instead of terraform
  --backup-key FILE   SSH private key of the backup runners (FILE.pub is the public key);
                      create it once with: ssh-keygen -t ed25519 -N '' -f FILE
  --out DIR           synthesis output (default: cdktf.out)
  --dry-run           print the commands and where each secret comes from; run nothing
  -h, --help          this help
exit status: 0 ok, 1 a step failed, 2 bad input (flags, city file, missing secret)`;

interface Args { config?: string; stack?: string[]; apply?: boolean; tofu?: boolean; 'backup-key'?: string; out?: string; 'dry-run'?: boolean; help?: boolean }

function parse(): Args {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      options: {
        config: { type: 'string' }, stack: { type: 'string', multiple: true }, apply: { type: 'boolean' }, tofu: { type: 'boolean' },
        'backup-key': { type: 'string' }, out: { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true, allowPositionals: false,
    }).values as Args;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** TF_VAR_* values of one stack, or a list of what is missing and how to provide it. */
export function resolveSecrets(bindings: readonly SecretBinding[], env: NodeJS.ProcessEnv, backupKey?: string): { vars: Record<string, string>; sources: Record<string, string>; missing: string[] } {
  const vars: Record<string, string> = {};
  const sources: Record<string, string> = {};
  const missing: string[] = [];
  for (const b of bindings) {
    const ref = b.ref;
    if ('env' in ref) {
      sources[b.variable] = `environment variable ${ref.env}`;
      if (env[ref.env]) vars[b.variable] = env[ref.env]!;
      else missing.push(`${b.variable} (${b.description}): export ${ref.env}=... on the deploying machine`);
    } else if ('file' in ref) {
      sources[b.variable] = `file ${ref.file}`;
      try {
        vars[b.variable] = readFileSync(ref.file, 'utf8').replace(/\n$/, '');
      } catch (err) {
        missing.push(`${b.variable} (${b.description}): cannot read ${ref.file} (${(err as NodeJS.ErrnoException).code}); create it, readable by the deploying user only`);
      }
    } else {
      const file = b.variable === 'backup_authorized_keys' && backupKey ? `${backupKey}.pub` : backupKey;
      sources[b.variable] = file ? `file ${file}` : '--backup-key';
      if (!file) missing.push(`${b.variable} (${b.description}): pass --backup-key FILE (ssh-keygen -t ed25519 -N '' -f FILE)`);
      else if (!existsSync(file)) missing.push(`${b.variable} (${b.description}): ${file} does not exist; ssh-keygen -t ed25519 -N '' -f ${backupKey}`);
      else vars[b.variable] = readFileSync(file, 'utf8');
    }
  }
  return { vars, sources, missing };
}

function main(): void {
  const args = parse();
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config FILE|DIR is required');
  const outdir = args.out ?? 'cdktf.out';
  const result = synthesize({ config: args.config, outdir });
  const all = result.builds.flatMap((b) => [...b.stacks.values()].map((s) => ({ name: s.node.id, secrets: b.secrets.get(s.node.id) ?? [] })));
  const unknown = (args.stack ?? []).filter((n) => !all.some((s) => s.name === n));
  if (unknown.length) throw new InputError(`unknown stack(s): ${unknown.join(', ')}; this config has: ${all.map((s) => s.name).join(', ')}`);
  const selected = args.stack ? all.filter((s) => args.stack!.includes(s.name)) : all;

  // Resolve every secret of every selected stack before touching any host.
  const resolved = selected.map((s) => ({ ...s, ...resolveSecrets(s.secrets, process.env, args['backup-key']) }));
  const missing = resolved.flatMap((r) => r.missing.map((m) => `  ${r.name}: ${m}`));
  if (missing.length) throw new InputError(`missing secrets, nothing was deployed:\n${missing.join('\n')}`);

  const tf = args.tofu ? 'tofu' : 'terraform';
  for (const [i, r] of resolved.entries()) {
    const dir = join(outdir, 'stacks', r.name);
    const steps: string[][] = [
      [tf, `-chdir=${dir}`, 'init', '-input=false'],
      [tf, `-chdir=${dir}`, 'plan', '-input=false', '-out=socle.tfplan'],
      ...(args.apply ? [[tf, `-chdir=${dir}`, 'apply', '-input=false', 'socle.tfplan']] : []),
    ];
    // A plan file holds the sensitive variables in clear: it must not outlive the apply.
    const planFile = join(dir, 'socle.tfplan');
    console.log(`[${i + 1}/${resolved.length}] ${r.name}`);
    for (const [v, source] of Object.entries(r.sources)) console.log(`  TF_VAR_${v} <- ${source}`);
    for (const step of steps) {
      console.log(`  ${args['dry-run'] ? '[dry-run] ' : ''}${step.join(' ')}`);
      if (args['dry-run']) continue;
      const env = { ...process.env, ...Object.fromEntries(Object.entries(r.vars).map(([k, v]) => [`TF_VAR_${k}`, v])) };
      const run = spawnSync(step[0], step.slice(1), { stdio: 'inherit', env });
      if (run.error) throw new StepError(`${step[0]} could not start (${run.error.message}): install Terraform or OpenTofu (--tofu) on the deploying machine`);
      if (step[2] === 'apply') rmSync(planFile, { force: true });
      if (run.status !== 0) {
        throw new StepError(`${step.slice(0, 3).join(' ')} failed (exit ${run.status}) on ${r.name}; stacks after it were not touched. Fix the cause above and run again: terraform is idempotent.`);
      }
    }
  }
  console.log(args.apply ? 'done: every selected stack is applied' : 'planned; review, then run again with --apply (each socle.tfplan holds secrets in clear: keep it on city storage, it is deleted after apply)');
}

void runCommand(main, USAGE);
