#!/usr/bin/env -S node --import tsx
// scripts/build-images.ts: builds Socle's images from Debian (debootstrap base + one Dockerfile per
// service), tagged for a city's registry; reuses unchanged images; optionally pushes them.
import { parseArgs } from 'node:util';
import { loadCity } from '../stacks/config/load.js';
import { BUILDABLE, buildImages, defaultMirror, pushImages } from './lib/images.js';
import { ensureEngine } from './lib/docker-engine.js';
import { UsageError, runCommand } from '../core/cli.js';

const USAGE = `usage: npm run build-images -- --config FILE [--only NAME]... [--archive KEY=FILE]... [--push] [--force] [--mirror URL]
  --config FILE   city file: images are tagged <registry.host>/<registry.namespace>/<name>
  --only NAME     build only these images (the base is always built first): ${BUILDABLE.map((b) => b.key).join(', ')}
  --archive KEY=FILE
                  the upstream release archive of ${BUILDABLE.filter((b) => b.release).map((b) => b.key).join(', ')} on this machine (an
                  air-gapped build host); otherwise it is downloaded from the URL the catalog or the
                  city file names (images.KEY.release) and kept in ~/.cache/socle/archives. Either
                  way its SHA-256 must be the one named, or nothing is built (exit 2)
  --push          push the built images to the city's registry (docker login first)
  --force         rebuild even when the recipe did not change
  --mirror URL    Debian mirror for debootstrap (default: ${defaultMirror()})
  -h, --help      this help
Prints each image's name, size and build time. Needs root on Debian to install docker.io and
debootstrap and to start dockerd when no engine answers.
exit status: 0 ok, 1 a build failed, 2 bad input`;

async function main(): Promise<void> {
  let values: { config?: string; only?: string[]; archive?: string[]; push?: boolean; force?: boolean; mirror?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { config: { type: 'string' }, only: { type: 'string', multiple: true }, archive: { type: 'string', multiple: true }, push: { type: 'boolean' }, force: { type: 'boolean' }, mirror: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true, allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  if (!values.config) throw new UsageError('--config FILE is required (the registry comes from it)');
  const unknown = (values.only ?? []).filter((k) => !BUILDABLE.some((b) => b.key === k));
  if (unknown.length) throw new UsageError(`--only: unknown image(s) ${unknown.join(', ')}`);
  const archives: Record<string, string> = {};
  for (const a of values.archive ?? []) {
    const [key, file] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    if (!a.includes('=') || !file) throw new UsageError(`--archive ${a}: expected KEY=FILE, e.g. --archive limesurvey=limesurvey-6.2.1+230807.tar.gz`);
    if (!BUILDABLE.some((b) => b.key === key && b.release)) throw new UsageError(`--archive ${key}=...: ${key} is not built from a release archive; these are: ${BUILDABLE.filter((b) => b.release).map((b) => b.key).join(', ')}`);
    archives[key] = file;
  }
  const city = loadCity(values.config);
  const releases = Object.fromEntries(Object.entries(city.images).map(([key, pin]) => [key, pin.release]));
  await ensureEngine((l) => console.error(l));
  const built = await buildImages({ registry: city.registry, mirror: values.mirror, only: values.only, force: values.force, archives, releases, onProgress: (l) => console.error(l) });
  console.log(`\n${'image'.padEnd(52)}${'size MB'.padStart(9)}${'build s'.padStart(9)}`);
  for (const b of built) console.log(`${b.ref.padEnd(52)}${b.sizeMB.toFixed(0).padStart(9)}${b.seconds.toFixed(1).padStart(9)}${b.cached ? '  (cached)' : ''}`);
  if (values.push) await pushImages(built.map((b) => b.ref), (l) => console.error(l));
}

void runCommand(main, USAGE);
