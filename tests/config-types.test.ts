// stacks/config/types.ts mirrors city.schema.json by hand: this test reads both and fails when a
// field exists in one and not in the other, so the two cannot drift apart silently.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import ts from 'typescript';
import { citySchema } from '../stacks/config/load.js';
import { CONSULTATION_PLACEHOLDERS } from '../services/consultation/placeholders.js';
import { ROOT } from './helpers.js';

/** Fields the loader adds to every city (not written in a file). */
const LOADER_FIELDS = ['file', 'locate'];
/** Keys of a map whose keys the file chooses (`env`): only the map itself is a field. */
const WILDCARD = '*';

function deref(schema: any): any {
  return schema?.$ref ? { ...citySchema.definitions[schema.$ref.split('/').pop()], ...schema, $ref: undefined } : schema;
}

function schemaPaths(schema: any, prefix: string, out: Set<string>): void {
  const s = deref(schema);
  for (const branch of s.oneOf ?? []) schemaPaths(branch, prefix, out);
  if (s.type === 'array') return schemaPaths(s.items, `${prefix}[]`, out);
  for (const [key, child] of Object.entries<any>(s.properties ?? {})) {
    if (key === '$schema') continue;
    const path = prefix ? `${prefix}.${key}` : key;
    out.add(path);
    schemaPaths(child, path, out);
  }
  if (typeof s.additionalProperties === 'object') out.add(`${prefix}.${WILDCARD}`);
}

function typePaths(checker: ts.TypeChecker, type: ts.Type, prefix: string, out: Set<string>, depth = 0): void {
  if (depth > 8) return;
  const t = checker.getNonNullableType(type);
  if (t.isUnion()) { for (const member of t.types) typePaths(checker, member, prefix, out, depth); return; }
  if (checker.isArrayType(t) || checker.isTupleType(t)) {
    const [element] = checker.getTypeArguments(t as ts.TypeReference);
    return typePaths(checker, element, `${prefix}[]`, out, depth + 1);
  }
  if (!(t.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) || t.getCallSignatures().length > 0) return;
  const index = t.getStringIndexType();
  if (index) {
    out.add(`${prefix}.${WILDCARD}`);
    return;
  }
  for (const prop of checker.getPropertiesOfType(t)) {
    const path = prefix ? `${prefix}.${prop.name}` : prop.name;
    out.add(path);
    typePaths(checker, checker.getTypeOfSymbol(prop), path, out, depth + 1);
  }
}

function cityConfigPaths(): Set<string> {
  const file = join(ROOT, 'stacks/config/types.ts');
  const program = ts.createProgram([file], { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const symbol = checker.getSymbolAtLocation(source)!.exports!.get('CityConfig' as ts.__String)!;
  const out = new Set<string>();
  typePaths(checker, checker.getDeclaredTypeOfSymbol(symbol), '', out);
  for (const f of LOADER_FIELDS) out.delete(f);
  return out;
}

/** A map in the types (`images: Record<string, ImagePin>`) stands for the schema's listed keys, and the other way round. */
function covers(paths: Set<string>, path: string): boolean {
  const under = (map: string, p: string) => map.endsWith(`.${WILDCARD}`) && p.startsWith(map.slice(0, -WILDCARD.length));
  return paths.has(path) || [...paths].some((p) => under(p, path) || under(path, p));
}

describe('the city config types', () => {
  it('have a field for every field of the schema, and no other', () => {
    const fromSchema = new Set<string>();
    schemaPaths(citySchema, '', fromSchema);
    const fromTypes = cityConfigPaths();
    expect(fromTypes.size).toBeGreaterThan(50);
    expect([...fromSchema].filter((p) => !covers(fromTypes, p)), 'in city.schema.json, missing from stacks/config/types.ts').toEqual([]);
    expect([...fromTypes].filter((p) => !covers(fromSchema, p)), 'in stacks/config/types.ts, missing from city.schema.json').toEqual([]);
  });

  it('document every placeholder the consultation app fills in, in the schema the README is made from', () => {
    const description: string = citySchema.properties.services.properties.consultation.properties.env.description;
    const documented = [...description.matchAll(/\{\{([\w.]+)\}\}/g)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...CONSULTATION_PLACEHOLDERS].sort());
  });

  it('describe every pattern of the schema in words, for the messages', () => {
    const undescribed: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (typeof n.pattern === 'string' && typeof n['x-allowed'] !== 'string') undescribed.push(`${path}: ${n.pattern}`);
      for (const [k, v] of Object.entries(n)) walk(v, path ? `${path}/${k}` : k);
    };
    walk(citySchema, '');
    expect(undescribed).toEqual([]);
  });
});
