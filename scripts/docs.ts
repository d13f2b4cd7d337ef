#!/usr/bin/env -S npx tsx
// Regenerates the README sections derived from code: the city config reference (from
// stacks/config/city.schema.json) and the policy rules (from the pack). A test fails when the
// README drifts from them.
import { readFileSync, writeFileSync } from 'node:fs';
import { citySchema } from '../stacks/config/load.js';
import { SOCLE_RULES } from '../stacks/policy/socle-pack.js';

const README = new URL('../README.md', import.meta.url);

function deref(schema: any): any {
  if (schema?.$ref) return { ...citySchema.definitions[schema.$ref.split('/').pop()], ...schema, $ref: undefined };
  return schema;
}

function typeOf(s: any): string {
  if (s.enum) return s.enum.map((v: unknown) => `\`${v}\``).join(' | ');
  if (s.oneOf) return '`{ env }` | `{ file }`';
  if (s.type === 'array') return `list of ${typeOf(deref(s.items))}`;
  return s.type ?? 'any';
}

const cell = (text: unknown) => String(text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function rows(schema: any, path: string, required: readonly string[], out: string[]): void {
  for (const [key, raw] of Object.entries<any>(schema.properties ?? {})) {
    if (key === '$schema') continue;
    const s = deref(raw);
    const p = path ? `${path}.${key}` : key;
    const description = `${s.description ?? ''}${required.includes(key) ? ' **Required.**' : ''}`.trim();
    const example = s.examples?.[0] !== undefined ? `\`${JSON.stringify(s.examples[0])}\`` : '';
    const dflt = s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : '';
    out.push(`| \`${p}\` | ${cell(typeOf(s))} | ${cell(dflt)} | ${cell(description)} | ${cell(example)} |`);
    if (s.type === 'object' && s.properties) rows(s, p, s.required ?? [], out);
    if (s.type === 'array' && deref(s.items)?.properties) rows(deref(s.items), `${p}[]`, deref(s.items).required ?? [], out);
  }
}

export function configReference(): string {
  const out = ['| Field | Type | Default | Description | Example |', '| --- | --- | --- | --- | --- |'];
  rows(citySchema, '', citySchema.required, out);
  return out.join('\n');
}

export function policyRules(): string {
  return ['| Id | Level | Cause | Why | Fix |', '| --- | --- | --- | --- | --- |',
    ...SOCLE_RULES.map((r) => `| ${r.id} | ${r.level} | ${cell(r.info)} | ${cell(r.explanation)} | ${cell(r.fix)} |`)].join('\n');
}

const SECTIONS: Record<string, () => string> = { 'config-reference': configReference, 'policy-rules': policyRules };

/** The README with every generated section replaced by its current content. */
export function regenerate(readme: string): string {
  let text = readme;
  for (const [name, render] of Object.entries(SECTIONS)) {
    const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(text)) throw new Error(`README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> markers; add them where the section belongs`);
    text = text.replace(re, `$1${render()}\n$2`);
  }
  return text;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log('usage: npm run docs   rewrite the generated sections of README.md (config reference, policy rules)');
  } else {
    const before = readFileSync(README, 'utf8');
    const after = regenerate(before);
    writeFileSync(README, after);
    console.log(before === after ? 'README.md already up to date' : 'README.md updated');
  }
}
