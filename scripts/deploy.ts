#!/usr/bin/env -S node --import tsx
// scripts/deploy.ts: synthesizes a city, then plans and applies (or destroys) each host's stack with
// plain OpenTofu (default) or Terraform. See scripts/lib/deploy.ts for what each step does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../stacks/synth.js';
import { InputError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { chooseDeployTool, deployStacks, type DeployAction, type StackTarget } from './lib/deploy.js';
import { defaultToolsDir } from './lib/tools.js';

export { resolveSecrets } from './lib/deploy.js';

const USAGE = `usage: npm run deploy -- --config FILE|DIR [--stack NAME]... [--apply | --destroy] [--terraform] [--dry-run]
  --config FILE|DIR   city file, or a directory of city files
  --stack NAME        only this stack (repeatable); default: every stack of the config
  --apply             apply the plan (default: plan only, so a human reads it first)
  --destroy           remove the stack's containers and networks; volumes marked prevent_destroy
                      (personal data, keys) are kept on the host and listed
  --replace NAME      recreate this container (repeatable), e.g. after rotating a secret it reads
  --adopt             the state is lost: take over the stack's containers and networks found on
                      the host (containers recreated, volumes and their data kept)
  --terraform         use Terraform instead of OpenTofu (Terraform cannot encrypt its state:
                      needs --plaintext-state)
  --plaintext-state   with --terraform: accept that state files hold the secrets in clear
  --skip-firewall-check REASON
                      apply although the host firewall rule (Ansible role docker_host) is not
                      confirmed; the reason is printed. By default every host is probed first
                      and an apply refuses a host whose containers can reach its own services
  --tools DIR         OpenTofu and the provider mirror (default: SOCLE_TOOLS_DIR, or
                      ~/.cache/socle/tools, made by npm run provider-mirror); without one,
                      tofu from PATH and providers from the registry
  --backup-key FILE   SSH private key of the backup runners (FILE.pub is the public key);
                      create it once with: ssh-keygen -t ed25519 -N '' -f FILE
  --out DIR           synthesis output (default: cdktf.out)
  --dry-run           print the commands and where each secret comes from; run nothing and
                      leave cdktf.out as it is
  -h, --help          this help
State: one file per stack in the city file's state.directory, encrypted with state.passphrase.
A deploy interrupted at any point is resumed by running the same command again.
Upgrades: an apply that gives an app whose data migrates (LimeSurvey) another image backs its host
up first and stops if that fails; an upgrade that does not become healthy is undone (database
restored from that backup, previous image back) and the deploy exits 1 (docs/surveys.md).
exit status: 0 ok, 1 a step failed, 2 bad input (flags, city file, missing secret)`;

interface Args {
  config?: string; stack?: string[]; apply?: boolean; destroy?: boolean; replace?: string[]; adopt?: boolean; terraform?: boolean;
  'plaintext-state'?: boolean; 'skip-firewall-check'?: string; tools?: string; 'backup-key'?: string; out?: string; 'dry-run'?: boolean; help?: boolean;
}

function parse(): Args {
  return parseFlags<Args>({
    config: { type: 'string' }, stack: { type: 'string', multiple: true }, apply: { type: 'boolean' }, destroy: { type: 'boolean' },
    replace: { type: 'string', multiple: true }, adopt: { type: 'boolean' }, terraform: { type: 'boolean' }, 'plaintext-state': { type: 'boolean' }, 'skip-firewall-check': { type: 'string' }, tools: { type: 'string' },
    'backup-key': { type: 'string' }, out: { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config FILE|DIR is required');
  if (args.apply && args.destroy) throw new UsageError('--apply and --destroy: choose one');
  if (args.destroy && args.replace) throw new UsageError('--replace recreates containers, --destroy removes them: choose one');
  if (args['skip-firewall-check'] !== undefined && !args['skip-firewall-check'].trim()) throw new UsageError('--skip-firewall-check needs a reason, e.g. --skip-firewall-check "host firewall managed by the city\'s network team"');
  const action: DeployAction = args.destroy ? 'destroy' : args.apply ? 'apply' : 'plan';
  // A dry run synthesizes into a scratch directory: it says it runs nothing, so it changes nothing.
  const scratch = args['dry-run'] ? mkdtempSync(join(tmpdir(), 'socle-dry-run-')) : undefined;
  try {
    const outdir = scratch ? join(scratch, 'cdktf.out') : args.out ?? 'cdktf.out';
    const result = synthesize({ config: args.config, outdir });
    const all: StackTarget[] = result.builds.flatMap((b, i) => [...b.stacks.values()].map((s) => ({
      name: s.node.id, dir: join(result.outdir, 'stacks', s.node.id), city: result.cities[i], host: s.host, secrets: b.secrets.get(s.node.id) ?? [],
    })));
    const unknown = (args.stack ?? []).filter((n) => !all.some((s) => s.name === n));
    if (unknown.length) throw new InputError(`unknown stack(s): ${unknown.join(', ')}; this config has: ${all.map((s) => s.name).join(', ')}`);
    const selected = args.stack ? all.filter((s) => args.stack!.includes(s.name)) : all;
    const tool = chooseDeployTool(args.terraform ? 'terraform' : 'tofu', args.tools ?? defaultToolsDir());
    console.log(`deploy tool: ${tool.binary}${tool.cliConfig ? `, providers from the mirror (${tool.cliConfig})` : ', providers from the registry (no mirror: npm run provider-mirror makes one)'}`);
    const outcomes = await deployStacks(selected, {
      action, tool, replace: args.replace, adopt: args.adopt, plaintextState: args['plaintext-state'], backupKey: args['backup-key'], dryRun: args['dry-run'],
      skipFirewallCheck: args['skip-firewall-check'],
    });
    if (args['dry-run']) {
      console.log('dry run: nothing was run, cdktf.out was not touched');
      return;
    }
    const changed = outcomes.filter((o) => o.changes.length > 0).length;
    if (action === 'plan') {
      console.log(changed ? `planned: ${changed} stack(s) would change; review, then run again with --apply` : 'planned: no changes on any stack');
    } else if (action === 'apply') {
      console.log(`done: every selected stack is applied (${changed} changed)`);
    } else {
      const kept = outcomes.flatMap((o) => o.kept);
      console.log(`destroyed; ${kept.length} volume(s) kept on their hosts with their data: ${kept.join(', ') || 'none'}`);
    }
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

void runCommand(main, USAGE);
