#!/usr/bin/env -S npx tsx
// Regenerates the documentation derived from code: the city config reference (from
// stacks/config/city.schema.json) and the policy rules (from the pack), between markers in their
// pages under docs/. A test fails when a page drifts from the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { citySchema } from '../stacks/config/load.js';
import { SOCLE_RULES } from '../stacks/policy/socle-pack.js';


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

function configReference(): string {
  const out = ['| Field | Type | Default | Description | Example |', '| --- | --- | --- | --- | --- |'];
  rows(citySchema, '', citySchema.required, out);
  return out.join('\n');
}

function policyRules(): string {
  return ['| Id | Level | Cause | Why | Fix |', '| --- | --- | --- | --- | --- |',
    ...SOCLE_RULES.map((r) => `| ${r.id} | ${r.level} | ${cell(r.info)} | ${cell(r.explanation)} | ${cell(r.fix)} |`)].join('\n');
}

/** Each generated page, and the sections between its markers. */
export const GENERATED_PAGES: Readonly<Record<string, Readonly<Record<string, () => string>>>> = {
  'docs/config-reference.md': { 'config-reference': configReference },
  'docs/policy-rules.md': { 'policy-rules': policyRules },
};

/** `page`'s text with every generated section replaced by its current content. */
export function regenerate(page: string, text: string): string {
  let out = text;
  for (const [name, render] of Object.entries(GENERATED_PAGES[page])) {
    const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(out)) throw new Error(`${page} has no <!-- ${name}:start --> ... <!-- ${name}:end --> markers; add them where the section belongs`);
    out = out.replace(re, `$1${render()}\n$2`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`usage: npm run docs   rewrite the generated sections of ${Object.keys(GENERATED_PAGES).join(', ')}`);
  } else {
    for (const page of Object.keys(GENERATED_PAGES)) {
      const file = new URL(`../${page}`, import.meta.url);
      const before = readFileSync(file, 'utf8');
      const after = regenerate(page, before);
      writeFileSync(file, after);
      console.log(before === after ? `${page} already up to date` : `${page} updated`);
    }
  }
}
