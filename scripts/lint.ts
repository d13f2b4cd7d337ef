#!/usr/bin/env -S node --import tsx
// npm run lint: every static check in one command, each with its own tool: TypeScript (strict, no
// unused locals), exported values nothing imports (dead code), shellcheck on the programs inside
// the images and the CI script, yamllint and ansible-lint on the Ansible roles.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseFlags, runCommand, StepError, UsageError } from '../core/cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `usage: npm run lint [-- --only NAME]
  --only NAME   one check: typescript, dead-code, shellcheck, ansible
  -h, --help    this help
exit status: 0 every check passes, 1 one failed (its findings printed), 2 bad flags`;

const SKIPPED_DIRS = new Set(['node_modules', '.git', 'cdktf.out', 'scratch', '.gen']);

function walk(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return SKIPPED_DIRS.has(e.name) ? [] : walk(path, keep);
    return keep(path) ? [path] : [];
  });
}

/**
 * Exported functions, constants and classes that no other file mentions: dead code, or an export
 * that should be private. Types and interfaces are left alone (they are a construct's public API).
 */
export function unusedExports(root = ROOT): string[] {
  const files = walk(root, (p) => p.endsWith('.ts'));
  const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
  const found: string[] = [];
  for (const [file, text] of texts) {
    if (file.includes('.test.')) continue;
    for (const m of text.matchAll(/^export\s+(?:async\s+)?(?:function\*?|const|let|class|abstract\s+class)\s+([A-Za-z_$][\w$]*)/gm)) {
      const name = m[1];
      const word = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`);
      if (![...texts].some(([other, t]) => other !== file && word.test(t))) found.push(`${relative(root, file)}: ${name} is exported but used by no other file: remove it, or drop the export`);
    }
  }
  return found;
}

function tool(command: string, args: string[], cwd = ROOT): { ok: boolean; output: string } {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ANSIBLE_NOCOLOR: '1' } });
  if (r.error) return { ok: false, output: `${command} is missing (${r.error.message}): apt-get install -y shellcheck yamllint ansible-lint, or run the test suite once (it installs them)` };
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

const CHECKS: Record<string, () => { ok: boolean; output: string }> = {
  typescript: () => tool(join(ROOT, 'node_modules/.bin/tsc'), ['--noEmit', '-p', join(ROOT, 'tsconfig.json')]),
  'dead-code': () => {
    const found = unusedExports();
    return { ok: found.length === 0, output: found.join('\n') };
  },
  shellcheck: () => {
    const scripts = walk(join(ROOT, 'services'), (p) => /^#!\/bin\/(ba)?sh\b/.test(readFileSync(p, 'utf8').slice(0, 20)));
    return tool('shellcheck', ['--severity=warning', ...scripts, join(ROOT, '.ci/run')]);
  },
  ansible: () => {
    const yaml = tool('yamllint', ['--strict', '.'], join(ROOT, 'ansible'));
    if (!yaml.ok) return yaml;
    return tool('ansible-lint', ['--nocolor'], join(ROOT, 'ansible'));
  },
};

async function main(): Promise<void> {
  const args = parseFlags<{ only?: string; help?: boolean }>({ only: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (args.help) return console.log(USAGE);
  if (args.only && !(args.only in CHECKS)) throw new UsageError(`--only ${args.only}: no such check; checks are ${Object.keys(CHECKS).join(', ')}`);
  const failed: string[] = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    if (args.only && name !== args.only) continue;
    process.stdout.write(`${name}... `);
    const r = check();
    console.log(r.ok ? 'ok' : 'FAILED');
    if (!r.ok) {
      failed.push(name);
      console.log(r.output.split('\n').map((l) => `  ${l}`).join('\n'));
    }
  }
  if (failed.length) throw new StepError(`lint: ${failed.join(', ')} failed; fix what is listed above and run npm run lint again`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void runCommand(main, USAGE);
