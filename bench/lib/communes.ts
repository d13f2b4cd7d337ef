// City files the benchmarks generate from the example: many communes, each under its own slug,
// domain and machine addresses.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const EXAMPLE = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'examples/ville-exemple.yaml');

export function loadExample(): any {
  return parse(readFileSync(EXAMPLE, 'utf8'));
}

/** Deep copy with every string rewritten: hostnames, addresses and paths all follow the domain. */
function mapStrings(value: unknown, f: (s: string) => string): any {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  return value;
}

/**
 * N communes, each the example under its own slug and domain (the loader rejects names outside the
 * commune's domain) and on its own machine address (same ports on one address would collide).
 */
export function communesDir(dir: string, n: number): string {
  const example = loadExample();
  const oldDomain: string = example.domain;
  const oldSlug: string = example.commune.slug;
  const out = join(dir, `communes-${n}`);
  mkdirSync(out);
  for (let i = 1; i <= n; i++) {
    const slug = `commune-${String(i).padStart(3, '0')}`;
    const domain = `${slug}.fr`;
    // Domain first, then the slug (restic paths, etc.): the domain contains the slug.
    const city = mapStrings(example, (s) => s.split(oldDomain).join(domain).split(oldSlug).join(slug));
    city.commune.slug = slug;
    city.commune.name = `Commune ${String(i).padStart(3, '0')}`;
    city.hosts = city.hosts.map((h: any, j: number) => {
      const k = (i - 1) * city.hosts.length + j;
      return { ...h, ssh: { ...h.ssh, address: `10.40.${Math.floor(k / 250)}.${(k % 250) + 1}` } };
    });
    writeFileSync(join(out, `${slug}.yaml`), stringify(city));
  }
  return out;
}

