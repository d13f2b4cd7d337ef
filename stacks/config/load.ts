import { SocleError } from '../../core/errors.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { homedir } from 'node:os';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { thirdPartiesIn } from '../policy/third-parties.js';
import type { CityConfig } from './types.js';

export const SCHEMA_PATH = new URL('./city.schema.json', import.meta.url);
export const citySchema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, any>;

/** One problem in a city file, with everything a sysadmin needs to fix it. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted field path, e.g. `services.limesurvey.hostname`, or `(root)`. */
  readonly path: string;
  readonly expected: string;
  readonly got?: string;
  readonly fix: string;
}

/** Bad input: every issue found, sorted by file and line. Callers exit with status 2. */
export class ConfigError extends SocleError {
  readonly exitStatus = 2;
  constructor(public readonly issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const blocks = issues.map((i) => {
    const lines = [`${i.file}:${i.line}:${i.col}  ${i.path}`, `  expected: ${i.expected}`];
    if (i.got !== undefined) lines.push(`  got:      ${i.got}`);
    lines.push(`  fix:      ${i.fix}`);
    return lines.join('\n');
  });
  const n = issues.length;
  return `${blocks.join('\n')}\n${n} problem${n > 1 ? 's' : ''} in the city configuration; nothing was written.`;
}

const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (a: Ajv) => Ajv;
// One compiled validator (compiling costs ~150 ms of every synth): it reports every error and, on
// valid data, fills in the schema's defaults, the single source of them.
const validator = addFormats(new Ajv({ allErrors: true, verbose: true, strict: false, useDefaults: true })).compile(citySchema);

type Keys = Array<string | number>;

/** A parsed file that can point at its own lines. */
class SourceFile {
  constructor(readonly name: string, readonly doc: Document, readonly lines: LineCounter) {}

  /** Line and column of the deepest existing node on `keys` (the key itself for map entries). */
  position(keys: Keys): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let offset = (node as any)?.range?.[0] ?? 0;
    for (const key of keys) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
        if (!pair) break;
        offset = (pair.key as any)?.range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node)) {
        const item = node.items[Number(key)];
        if (!item) break;
        offset = (item as any).range?.[0] ?? offset;
        node = item;
      } else break;
    }
    return this.lines.linePos(offset);
  }

  issue(keys: Keys, expected: string, fix: string, got?: string): ConfigIssue {
    return { file: this.name, ...this.position(keys), path: keys.join('.') || '(root)', expected, got, fix };
  }
}

const SECRET_KEY = /password|secret|token|passwd|key$/i;

function show(keys: Keys, value: unknown): string {
  if (keys.some((k) => SECRET_KEY.test(String(k)))) return '(a secret value, not shown)';
  // user:password@ inside URLs is never echoed either.
  const text = JSON.stringify(value)?.replace(/(\/\/[^/:@\s"]+):[^@\s"]+@/g, '$1:***@');
  return text === undefined ? 'nothing' : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

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

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function pointerKeys(pointer: string): Keys {
  return pointer.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~')).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

function schemaIssue(src: SourceFile, e: ErrorObject): ConfigIssue {
  const keys = pointerKeys(e.instancePath);
  const schema = resolveRef(e.parentSchema);
  const what = schema?.description ? ` (${schema.description.replace(/\.$/, '')})` : '';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as any).additionalProperty as string;
      const known = Object.keys(schema?.properties ?? {});
      const guess = nearest(key, known);
      return src.issue([...keys, key], `one of ${known.join(', ')} (no other keys)`,
        guess ? `did you mean "${guess}"?` : `remove "${key}"; see the config reference in README.md`);
    }
    case 'required': {
      const key = (e.params as any).missingProperty as string;
      const prop = resolveRef(schema?.properties?.[key]);
      const ex = exampleOf(prop);
      return src.issue(keys, `a "${key}" field${prop?.description ? `: ${prop.description.replace(/\.$/, '')}` : ''}`,
        ex ? `add ${key}: ${ex}` : `add the "${key}" field`, 'missing');
    }
    case 'oneOf':
      return src.issue(keys, 'a reference { env: VARIABLE_NAME } or { file: /absolute/path }: secrets are never written in the city file',
        'move the value into an environment variable or a file readable by the deploying user, and reference it here', show(keys, e.data));
    case 'enum':
      return src.issue(keys, `one of ${(e.params as any).allowedValues.map((v: unknown) => JSON.stringify(v)).join(', ')}`,
        `use one of the listed values${exampleOf(schema) ? `, e.g. ${exampleOf(schema)}` : ''}`, show(keys, e.data));
    case 'type':
      return src.issue(keys, `a value of type ${(e.params as any).type}${what}`,
        exampleOf(schema) ? `write it like ${exampleOf(schema)}` : `change it to a ${(e.params as any).type}`, show(keys, e.data));
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return src.issue(keys, `a number ${(e.params as any).comparison} ${(e.params as any).limit}${what}`,
        `set a value within the allowed range${exampleOf(schema) ? `, e.g. ${exampleOf(schema)}` : ''}`, show(keys, e.data));
    case 'minItems':
      return src.issue(keys, `at least ${(e.params as any).limit} item(s)${what}`, `add at least ${(e.params as any).limit} entry`, show(keys, e.data));
    case 'minLength':
      return src.issue(keys, `at least ${(e.params as any).limit} character(s)${what}`,
        exampleOf(schema) ? `write a longer value, e.g. ${exampleOf(schema)}` : 'write a longer value', show(keys, e.data));
    case 'uniqueItems':
      return src.issue(keys, 'no duplicate entries', 'remove the duplicate', show(keys, e.data));
    default: // pattern, format, propertyNames...
      return src.issue(keys, `${schema?.description ?? e.message}`.replace(/\.$/, '') + (e.keyword === 'format' ? ` (a valid ${(e.params as any).format})` : ''),
        exampleOf(schema) ? `write it like ${exampleOf(schema)}` : `fix the value (${e.message})`, show(keys, e.data));
  }
}

function schemaIssues(src: SourceFile, errors: readonly ErrorObject[]): ConfigIssue[] {
  // A oneOf failure also reports each branch's own complaint: keep only the oneOf line.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  return errors
    .filter((e) => e.keyword === 'oneOf' || ![...oneOfPaths].some((p) => e.instancePath === p || e.instancePath.startsWith(`${p}/`)))
    .filter((e) => e.keyword !== 'if')
    .map((e) => schemaIssue(src, e));
}

/** True when `host` is `domain` or one of its subdomains. */
export function isUnder(host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}

function* strings(value: unknown, keys: Keys = []): Generator<[Keys, string]> {
  if (typeof value === 'string') yield [keys, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...keys, i]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...keys, k]);
}

const PLACED_SERVICES = ['proxy', 'consultation', 'limesurvey', 'matomo', 'onion'] as const;
const PUBLIC_SERVICES = ['consultation', 'limesurvey', 'matomo'] as const;
const DEFAULT_UPSTREAM_PORTS: Record<string, number> = Object.fromEntries(PUBLIC_SERVICES.map((s) => [s, citySchema.properties.services.properties[s].properties.upstreamPort.default]));

/** Checks that need several fields at once; `raw` already matches the schema. */
function crossFieldIssues(src: SourceFile, raw: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const hostNames: string[] = raw.hosts.map((h: any) => h.name);
  const domains: string[] = [raw.domain, ...(raw.additionalDomains ?? [])];
  const cityDomains = domains.join(' or ');

  raw.hosts.forEach((h: any, i: number) => {
    if (hostNames.indexOf(h.name) !== i) issues.push(src.issue(['hosts', i, 'name'], 'a host name used once', `rename this host; "${h.name}" is already declared`, JSON.stringify(h.name)));
    const firstAddr = raw.hosts.findIndex((o: any) => o.ssh.address === h.ssh.address);
    if (firstAddr !== i) issues.push(src.issue(['hosts', i, 'ssh', 'address'], 'one entry per machine', `hosts.${firstAddr} already has address ${h.ssh.address}; merge the two entries`, JSON.stringify(h.ssh.address)));
  });

  raw.hosts.forEach((h: any, i: number) => {
    if (h.privateAddress === undefined && !/^\d+\.\d+\.\d+\.\d+$/.test(h.ssh.address)) {
      issues.push(src.issue(['hosts', i], 'a "privateAddress" (IPv4): the SSH address is a name, and published ports bind to an address', `add privateAddress: <IPv4 of ${h.name} on the city network>`, 'missing'));
    }
  });
  if (raw.registry.username !== undefined && raw.registry.password === undefined) {
    issues.push(src.issue(['registry'], 'a "password" reference when a username is given', 'add password: { env: SOCLE_REGISTRY_PASSWORD }, or remove username for an anonymous registry', 'missing'));
  }
  (raw.policy?.suppressions ?? []).forEach((s: any, i: number) => {
    if (s.reason.trim().length < 10) issues.push(src.issue(['policy', 'suppressions', i, 'reason'], 'a written reason of at least 10 characters', 'say why the exception is acceptable: auditors read it', JSON.stringify(s.reason)));
  });
  for (const [name, value] of Object.entries<string>(raw.services?.consultation?.env ?? {})) {
    const literalSecret = /(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY)$/i.test(name) && !/^\{\{[\w.]+\}\}$/.test(value.trim()) && value !== '';
    const urlCredentials = /:\/\/[^/:@\s]+:(?!\{\{)[^@\s]+@/.test(value);
    if (literalSecret || urlCredentials) {
      issues.push(src.issue(['services', 'consultation', 'env', name], 'no secret written in the city file', 'use a placeholder such as {{database.password}} or {{secretKeyBase}}; secrets the stack does not generate are not supported here yet', '(a secret value, not shown)'));
    }
  }

  const services = raw.services ?? {};
  const enabled = (name: string) => {
    const s = services[name];
    if (name === 'proxy') return true;
    if (name === 'onion') return s?.enabled === true;
    return s?.enabled !== false;
  };
  for (const name of PLACED_SERVICES) {
    if (!enabled(name)) continue;
    const host = services[name]?.host;
    if (host === undefined) {
      if (hostNames.length > 1) issues.push(src.issue(['services', name], `a "host" field: several hosts are declared (${hostNames.join(', ')})`, `add host: ${hostNames[0]} (or the host that should run ${name})`, 'missing'));
    } else if (!hostNames.includes(host)) {
      const guess = nearest(host, hostNames);
      issues.push(src.issue(['services', name, 'host'], `one of the declared hosts: ${hostNames.join(', ')}`, guess ? `did you mean "${guess}"?` : 'declare the host under hosts, or use one of the listed names', JSON.stringify(host)));
    }
  }
  const storeHost = services.backup?.store?.host;
  if (storeHost !== undefined && !hostNames.includes(storeHost)) {
    issues.push(src.issue(['services', 'backup', 'store', 'host'], `one of the declared hosts: ${hostNames.join(', ')}`, 'declare the storage host under hosts, or use one of the listed names', JSON.stringify(storeHost)));
  }

  const seenHostnames = new Map<string, string>();
  for (const name of PUBLIC_SERVICES) {
    if (!enabled(name)) continue;
    const hostname = services[name]?.hostname;
    if (hostname === undefined) {
      issues.push(src.issue(['services', name], `a "hostname" field: ${name} is enabled`, `add hostname: ${name === 'consultation' ? 'participer' : name}.${raw.domain}, or set enabled: false`, 'missing'));
      continue;
    }
    if (!domains.some((d) => isUnder(hostname, d))) {
      issues.push(src.issue(['services', name, 'hostname'], `a host name under ${cityDomains}`, `use a name such as ${name}.${raw.domain}, or add its domain to additionalDomains if the city owns it`, JSON.stringify(hostname)));
    }
    if (seenHostnames.has(hostname)) issues.push(src.issue(['services', name, 'hostname'], 'a host name used by one service only', `services.${seenHostnames.get(hostname)} already uses it; pick another name`, JSON.stringify(hostname)));
    seenHostnames.set(hostname, name);
  }

  const relay = raw.mail.relay.host;
  if (!domains.some((d) => isUnder(relay, d))) {
    issues.push(src.issue(['mail', 'relay', 'host'], `the city's own mail server, under ${cityDomains}`, `point it at the city's Zimbra (e.g. zimbra.${raw.domain}); add its domain to additionalDomains only if the city owns it`, JSON.stringify(relay)));
  }
  const fromDomain = String(raw.mail.from).split('@')[1] ?? '';
  if (!domains.some((d) => isUnder(fromDomain, d))) {
    issues.push(src.issue(['mail', 'from'], `a sender address in ${cityDomains}`, `use an address such as ne-pas-repondre@${raw.domain}`, JSON.stringify(raw.mail.from)));
  }

  if (raw.tls?.mode === 'acme' && !raw.tls.acme) issues.push(src.issue(['tls'], 'an "acme" block when mode is acme', 'add acme: { directoryUrl: https://..., email: ... }', 'missing'));

  if (enabled('onion') && (services.onion?.host ?? hostNames[0]) !== (services.proxy?.host ?? hostNames[0])) {
    issues.push(src.issue(['services', 'onion', 'host'], `the proxy's host (${services.proxy?.host ?? hostNames[0]})`, 'place the onion service on the same host as the proxy', JSON.stringify(services.onion?.host)));
  }

  const backup = services.backup ?? {};
  if (backup.enabled !== false) {
    if (!backup.password) issues.push(src.issue(['services', 'backup'], 'a "password" reference: the restic repository key the city holds', 'add password: { env: SOCLE_RESTIC_PASSWORD }, or set enabled: false', 'missing'));
    if (!backup.targets && !backup.store) issues.push(src.issue(['services', 'backup'], 'at least one target on city storage ("targets" or "store")', 'add targets: [{ name: nas, host: nas.<domain>, user: restic, path: /srv/restic }], or a store on a declared host', 'missing'));
  }

  // Deny list over every string of the file: a third party must not appear anywhere.
  for (const [keys, value] of strings(raw)) {
    if (keys[0] === '$schema') continue;
    for (const { host, party } of thirdPartiesIn(value)) {
      issues.push(src.issue(keys, 'no third-party host (CDN, analytics, web fonts, mail relay, public registry)', `replace ${host} (${party.vendor}, ${party.category}) with a service the city runs itself`, JSON.stringify(host)));
    }
  }
  return issues;
}

/** Published (address, port) pairs of one commune, for the port-collision checks. */
export interface PortClaim { readonly src: SourceFile; readonly keys: Keys; readonly machine: string; readonly bind: string; readonly port: number; readonly what: string }

function portClaims(src: SourceFile, raw: any): PortClaim[] {
  const byName = new Map<string, any>(raw.hosts.map((h: any) => [h.name, h]));
  const first = raw.hosts[0];
  const machineOf = (name?: string) => (name ? byName.get(name) : first)?.ssh.address ?? '?';
  const proxy = raw.services?.proxy ?? {};
  const pm = machineOf(proxy.host);
  const bind = proxy.bindAddress ?? '0.0.0.0';
  // SSH first: a clash is reported on the port the user chose, not on the SSH port already there.
  const claims: PortClaim[] = raw.hosts.map((h: any, i: number) => ({ src, keys: ['hosts', i, 'ssh', 'port'], machine: h.ssh.address, bind: '0.0.0.0', port: h.ssh.port ?? 22, what: `SSH of ${h.name}` }));
  claims.push(
    { src, keys: ['services', 'proxy', 'httpPort'], machine: pm, bind, port: proxy.httpPort ?? 80, what: `${raw.commune.slug} proxy HTTP` },
    { src, keys: ['services', 'proxy', 'httpsPort'], machine: pm, bind, port: proxy.httpsPort ?? 443, what: `${raw.commune.slug} proxy HTTPS` },
  );
  for (const app of PUBLIC_SERVICES) {
    const svc = raw.services?.[app];
    const appHost = svc?.host ? byName.get(svc.host) : first;
    if (!svc || svc.enabled === false || !appHost || appHost.ssh.address === pm) continue;
    // On another host than the proxy, the app publishes its upstream port on the private address.
    claims.push({ src, keys: ['services', app, 'upstreamPort'], machine: appHost.ssh.address, bind: appHost.privateAddress ?? appHost.ssh.address, port: svc.upstreamPort ?? DEFAULT_UPSTREAM_PORTS[app], what: `${raw.commune.slug} ${app} upstream` });
  }
  const store = raw.services?.backup?.store;
  if (store && raw.services?.backup?.enabled !== false) {
    const h = byName.get(store.host);
    if (h) claims.push({ src, keys: ['services', 'backup', 'store', 'port'], machine: h.ssh.address, bind: h.privateAddress ?? h.ssh.address, port: store.port ?? 2222, what: `${raw.commune.slug} backup store SFTP` });
  }
  return claims;
}

function overlaps(a: PortClaim, b: PortClaim): boolean {
  return a.machine === b.machine && a.port === b.port && (a.bind === b.bind || a.bind === '0.0.0.0' || b.bind === '0.0.0.0');
}

function portIssues(claims: readonly PortClaim[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  claims.forEach((c, i) => {
    const clash = claims.slice(0, i).find((o) => overlaps(o, c) && !(o.what.startsWith('SSH') && c.what.startsWith('SSH')));
    if (clash) {
      const fix = c.src === clash.src ? `port ${c.port} is already taken by ${clash.what}; choose another port`
        : `port ${c.port} is already taken by ${clash.what} (${clash.src.name}); choose another port, or give this commune its own bindAddress`;
      issues.push(c.src.issue(c.keys, `a port free on ${c.machine} (${c.bind})`, fix, String(c.port)));
    }
  });
  return issues;
}

function applyDefaults(raw: any, cityFile: string): CityConfig {
  const data = structuredClone(raw);
  data.additionalDomains ??= [];
  data.images ??= {};
  data.policy ??= {};
  data.policy.suppressions ??= [];
  data.services ??= {};
  for (const name of [...PLACED_SERVICES, 'backup']) data.services[name] ??= {};
  data.services.backup.retention ??= {};
  data.services.backup.targets ??= [];
  data.services.consultation.env ??= {};
  data.tls ??= {};
  data.state ??= {};
  validator(data);
  // ACME stays off unless asked for: by default the city's own certificate, one directory per commune.
  if (data.tls.mode === 'files') data.tls.files ??= { directory: `/etc/socle/tls/${data.commune.slug}` };
  // The consultation app's pin applies to whichever image it runs.
  const consultation = data.services.consultation;
  if (data.images.consultation) data.images[consultation.image ?? consultation.preset] ??= data.images.consultation;
  for (const h of data.hosts) h.privateAddress ??= h.ssh.address;
  // Paths on the deploying machine are written relative to the city file.
  const base = dirname(resolve(cityFile));
  for (const h of data.hosts) for (const key of ['knownHosts', 'identityFile'] as const) if (h.ssh[key]) h.ssh[key] = resolve(base, h.ssh[key].replace(/^~(?=\/)/, homedir()));
  if (data.state.directory) data.state.directory = resolve(base, data.state.directory);
  for (const name of PLACED_SERVICES) data.services[name].host ??= data.hosts[0].name;
  if (!data.services.backup.enabled) data.services.backup.targets = [];
  return data as CityConfig;
}

interface Parsed { src: SourceFile; raw: any; issues: ConfigIssue[] }

function parseCityFile(file: string, displayName: string): Parsed {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (err as Error).message;
    throw new ConfigError([{ file: displayName, line: 1, col: 1, path: '(file)', expected: 'a readable YAML city file', got: reason, fix: 'check the path given to --config (a file, or a directory of .yaml files)' }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const src = new SourceFile(displayName, doc, lines);
  if (doc.errors.length > 0) {
    return {
      src, raw: undefined,
      issues: doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { file: displayName, line, col, path: '(yaml)', expected: 'valid YAML', got: e.message.split('\n')[0], fix: e.code === 'DUPLICATE_KEY' ? 'remove one of the duplicated keys' : 'fix the YAML syntax at this position (indentation, quotes, colons)' };
      }),
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { src, raw: undefined, issues: [src.issue([], 'a plain YAML document', 'remove the YAML aliases (*name) and anchors (&name): write each value out', (err as Error).message)] };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { src, raw: undefined, issues: [src.issue([], 'a mapping with commune, domain, hosts, registry, mail, tls and services', 'start from examples/ville-exemple.yaml', raw === null ? 'an empty document' : show([], raw))] };
  }
  if (!validator(raw)) return { src, raw, issues: schemaIssues(src, validator.errors ?? []) };
  const city = raw as any;
  return { src, raw, issues: crossFieldIssues(src, city) };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

/** Files a --config argument designates: the file itself, or the city files of a directory. */
export function cityFiles(path: string): string[] {
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
  const parsed = files.map((f) => parseCityFile(f, relative(cwd, f) || basename(f)));
  const issues = parsed.flatMap((p) => p.issues);
  const valid = parsed.filter((p) => p.issues.length === 0);
  // Across communes: unique slugs, and no two communes publishing the same port of one machine.
  const slugs = new Map<string, string>();
  for (const p of valid) {
    const slug = p.raw.commune.slug;
    if (slugs.has(slug)) issues.push(p.src.issue(['commune', 'slug'], 'a slug unique across all city files', `${slugs.get(slug)} already uses "${slug}"; choose another`, JSON.stringify(slug)));
    slugs.set(slug, p.src.name);
  }
  issues.push(...portIssues(valid.flatMap((p) => portClaims(p.src, p.raw))));
  if (issues.length > 0) throw new ConfigError(sortIssues(issues));
  return parsed.map((p, i) => ({ ...applyDefaults(p.raw, resolve(cwd, files[i])), file: p.src.name }));
}

/** Reads one city file. */
export function loadCity(file: string, cwd = process.cwd()): CityConfig {
  const [city] = loadCities(file, cwd);
  return city;
}
