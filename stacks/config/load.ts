// Reads city files: source and encoding (source.ts), the schema and its messages (schema.ts),
// checks across fields by topic (checks/), and defaults (defaults.ts). This module puts them in
// order and adds what needs several files at once (slugs, ports of a shared machine).
import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { cityIssues, portClaims, portIssues } from './checks/index.js';
import { withDerivedDefaults, withSchemaDefaults } from './defaults.js';
import { ConfigError, sortIssues, type ConfigIssue } from './issues.js';
import { schemaIssues } from './schema.js';
import { readCityFile, type SourceFile } from './source.js';
import type { CityConfig } from './types.js';

export { citySchema, SCHEMA_PATH } from './schema.js';
export { ConfigError, formatIssues, nearest, type ConfigIssue } from './issues.js';
export { isUnder, type PortClaim } from './checks/index.js';

/** A file that read and matched the schema, its defaults filled in; or its issues. */
type Checked = { src: SourceFile; city: any; issues: [] } | { src?: SourceFile; city: undefined; issues: ConfigIssue[] };

function checkCityFile(file: string, displayName: string): Checked {
  const read = readCityFile(file, displayName);
  if (read.raw === undefined) return { ...read, city: undefined };
  const { src, raw } = read;
  const invalid = schemaIssues(src, raw);
  if (invalid.length > 0) return { src, city: undefined, issues: invalid };
  const city = withSchemaDefaults(raw);
  const issues = cityIssues(src, city);
  return issues.length > 0 ? { src, city: undefined, issues } : { src, city, issues: [] };
}

/** Files a --config argument designates: the file itself, or the city files of a directory. */
function cityFiles(path: string): string[] {
  let isDir = false;
  try { isDir = statSync(path).isDirectory(); } catch { /* reported by the reader */ }
  if (!isDir) return [path];
  const files = readdirSync(path).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(path, f));
  if (files.length === 0) {
    throw new ConfigError([{ file: path, line: 1, col: 1, path: '(directory)', expected: 'one or more .yaml city files', got: 'none', fix: 'put one <commune>.yaml file per commune in this directory' }]);
  }
  return files;
}

/**
 * Reads and validates one city file or a directory of them (an intercommunalité hosting many
 * communes). Throws ConfigError listing every issue of every file.
 */
export function loadCities(path: string, cwd = process.cwd()): CityConfig[] {
  const files = cityFiles(path);
  const checked = files.map((f) => checkCityFile(f, relative(cwd, f) || basename(f)));
  const issues = checked.flatMap((c) => c.issues);
  const valid = checked.filter((c): c is Extract<Checked, { issues: [] }> => c.issues.length === 0);
  // Across communes: unique slugs, and no two communes publishing the same port of one machine.
  const slugs = new Map<string, string>();
  for (const { src, city } of valid) {
    const slug = city.commune.slug;
    if (slugs.has(slug)) issues.push(src.issue(['commune', 'slug'], 'a slug unique across all city files', `${slugs.get(slug)} already uses "${slug}"; choose another`, JSON.stringify(slug)));
    slugs.set(slug, src.name);
  }
  issues.push(...portIssues(valid.flatMap(({ src, city }) => portClaims(src, city))));
  if (issues.length > 0) throw new ConfigError(sortIssues(issues));
  return valid.map(({ src, city }, i) => ({ ...withDerivedDefaults(city, resolve(cwd, files[i])), file: src.name, locate: (keys) => src.locate(keys) }));
}

/** Reads one city file. */
export function loadCity(file: string, cwd = process.cwd()): CityConfig {
  const [city] = loadCities(file, cwd);
  return city;
}
