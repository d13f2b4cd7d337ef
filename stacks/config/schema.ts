// The city schema (city.schema.json), its one compiled validator, and ajv's errors turned into
// messages a sysadmin can act on: in words, with an example, never the raw regex.
import { readFileSync } from 'node:fs';
import { domainToASCII } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { nearest, show, withArticle, type ConfigIssue, type Keys } from './issues.js';
import type { SourceFile } from './source.js';

export const SCHEMA_PATH = new URL('./city.schema.json', import.meta.url);
export const citySchema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, any>;

const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (a: Ajv) => Ajv;
// One compiled validator (compiling costs ~150 ms of every synth): it reports every error and, on
// valid data, fills in the schema's defaults, the single source of them.
export const validateCity = addFormats(new Ajv({ allErrors: true, verbose: true, strict: false, useDefaults: true })).compile(citySchema);

/** Fields renamed or moved: an old file gets the new place in its message, not just "unknown key". */
const MOVED: Readonly<Record<string, string>> = {
  additionalDomains: 'list these domains under commune.owns.domains (with the commune\'s own domain)',
};

function resolveRef(schema: any): any {
  if (schema?.$ref?.startsWith('#/definitions/')) {
    const target = citySchema.definitions[schema.$ref.slice('#/definitions/'.length)];
    return { ...target, ...schema, $ref: undefined };
  }
  return schema;
}

function exampleOf(schema: any): string | undefined {
  const s = resolveRef(schema);
  if (!s) return undefined;
  const ex = s.examples?.[0] ?? s.default;
  return ex === undefined ? undefined : JSON.stringify(ex);
}

function pointerKeys(pointer: string): Keys {
  return pointer.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~')).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

const TYPE_NAMES: Readonly<Record<string, string>> = { integer: 'integer', number: 'number', string: 'string', boolean: 'boolean (true or false)', object: 'object (a mapping of keys)', array: 'list' };

/** What a pattern failure tells the user: the accepted form in words, and a corrected value when it can guess one. */
function patternFix(schema: any, value: unknown): string {
  if (typeof value === 'string' && /[^\x00-\x7f]|[A-Z]/.test(value) && /[a-z]\.[a-z]/i.test(value)) {
    // An accented or capitalised host name: DNS holds its lowercase, punycode (xn--) form.
    const ascii = domainToASCII(value.split(':')[0].toLowerCase());
    if (ascii && new RegExp(schema.pattern).test(ascii + value.slice(value.split(':')[0].length))) {
      return `write ${JSON.stringify(ascii + value.slice(value.split(':')[0].length))}${/[^\x00-\x7f]/.test(value) ? ' (the IDN form DNS uses for an accented name)' : ''}`;
    }
  }
  return exampleOf(schema) ? `write it like ${exampleOf(schema)}` : 'rewrite the value in the form described';
}

function schemaIssue(src: SourceFile, e: ErrorObject): ConfigIssue {
  // A key that breaks propertyNames is reported on the key itself.
  const keys = e.propertyName === undefined ? pointerKeys(e.instancePath) : [...pointerKeys(e.instancePath), e.propertyName];
  const schema = resolveRef(e.parentSchema);
  const what = schema?.description ? ` (${schema.description.replace(/\.$/, '')})` : '';
  const params = e.params as any;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = params.additionalProperty as string;
      const known = Object.keys(schema?.properties ?? {});
      const moved = keys.length === 0 ? MOVED[key] : undefined;
      const guess = nearest(key, known);
      return src.issue([...keys, key], `one of ${known.join(', ')} (no other keys)`,
        moved ? `"${key}" has moved: ${moved}` : guess ? `did you mean "${guess}"?` : `remove "${key}"; see the config reference in docs/config-reference.md`);
    }
    case 'required': {
      const key = params.missingProperty as string;
      const prop = resolveRef(schema?.properties?.[key]);
      const ex = exampleOf(prop);
      return src.issue(keys, `${withArticle(`"${key}"`)} field${prop?.description ? `: ${prop.description.replace(/\.$/, '')}` : ''}`,
        ex ? `add ${key}: ${ex}` : `add the "${key}" field`, 'missing');
    }
    case 'oneOf':
      return src.issue(keys, 'a reference { env: VARIABLE_NAME } or { file: /absolute/path }: secrets are never written in the city file',
        'move the value into an environment variable or a file readable by the deploying user, and reference it here', show(keys, e.data));
    case 'enum':
      return src.issue(keys, `one of ${params.allowedValues.map((v: unknown) => JSON.stringify(v)).join(', ')}`,
        `use one of the listed values${exampleOf(schema) ? `, e.g. ${exampleOf(schema)}` : ''}`, show(keys, e.data));
    case 'type': {
      const noun = withArticle(TYPE_NAMES[params.type] ?? params.type);
      return src.issue(keys, `${noun}${what}`, exampleOf(schema) ? `write it like ${exampleOf(schema)}` : `change it to ${noun}`, show(keys, e.data));
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return src.issue(keys, `a number ${params.comparison} ${params.limit}${what}`,
        `set a value within the allowed range${exampleOf(schema) ? `, e.g. ${exampleOf(schema)}` : ''}`, show(keys, e.data));
    case 'minItems':
      return src.issue(keys, `at least ${params.limit} ${params.limit === 1 ? 'entry' : 'entries'}${what}`, `add at least ${params.limit === 1 ? 'one entry' : `${params.limit} entries`}${exampleOf(schema) ? `, e.g. ${exampleOf(schema)}` : ''}`, show(keys, e.data));
    case 'minLength':
      return src.issue(keys, `at least ${params.limit} character${params.limit === 1 ? '' : 's'}${what}`,
        exampleOf(schema) ? `write a longer value, e.g. ${exampleOf(schema)}` : 'write a longer value', show(keys, e.data));
    case 'uniqueItems':
      return src.issue(keys, 'no duplicate entries', 'remove the duplicate', show(keys, e.data));
    case 'pattern': {
      const allowed = schema?.['x-allowed'] ?? schema?.description ?? 'a value in the documented form';
      return src.issue(keys, String(allowed), patternFix(schema, e.data), show(keys, e.data));
    }
    default: // format, propertyNames...
      return src.issue(keys, `${schema?.description ?? e.message}`.replace(/\.$/, '') + (e.keyword === 'format' ? ` (a valid ${params.format})` : ''),
        exampleOf(schema) ? `write it like ${exampleOf(schema)}` : `fix the value (${e.message})`, show(keys, e.data));
  }
}

/** The schema's complaints about `raw`, or none when it matches (then its defaults are filled in). */
export function schemaIssues(src: SourceFile, raw: unknown): ConfigIssue[] {
  if (validateCity(raw)) return [];
  const errors = validateCity.errors ?? [];
  // A oneOf failure also reports each branch's own complaint: keep only the oneOf line. The
  // propertyNames error follows the pattern error naming the key: keep the one with the key.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  return errors
    .filter((e) => e.keyword === 'oneOf' || ![...oneOfPaths].some((p) => e.instancePath === p || e.instancePath.startsWith(`${p}/`)))
    .filter((e) => e.keyword !== 'if' && e.keyword !== 'propertyNames')
    .map((e) => schemaIssue(src, e));
}
