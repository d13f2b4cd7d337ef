#!/usr/bin/env -S node --import tsx
// scripts/mirror-images.ts: copies the upstream images a city uses (LimeSurvey, Matomo, the
// consultation app) into the city's registry, on a build host that has internet access, and prints
// the digests to pin in the city file. Deploys then never reach Docker Hub or GHCR.
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { loadCity } from '../stacks/config/load.js';
import type { CityConfig } from '../stacks/config/types.js';
import { IMAGE_CATALOG, imageReference } from '../services/common/images.js';
import { StepError, UsageError, runCommand } from '../core/cli.js';

const MIRRORED = Object.entries(IMAGE_CATALOG).filter(([, e]) => e.origin === 'mirrored').map(([k]) => k);

const USAGE = `usage: npm run mirror-images -- --config FILE [--only NAME]... [--dry-run]
  --config FILE   city file: which upstream images it uses, and its registry
  --only NAME     only these images: ${MIRRORED.join(', ')}
  --dry-run       print the plan (pull, tag, push for each image) and run nothing
  -h, --help      this help
Runs on a build host with internet access and \`docker login\` done for the city registry.
exit status: 0 ok, 1 a pull or push failed, 2 bad input`;

/** The mirrored images a city's enabled services run. */
function mirroredImagesOf(city: CityConfig): string[] {
  const s = city.services;
  const used = new Set<string>();
  if (s.limesurvey.enabled) used.add('limesurvey');
  if (s.matomo.enabled) used.add('matomo');
  if (s.consultation.enabled && !s.consultation.image) used.add(s.consultation.preset);
  return MIRRORED.filter((k) => used.has(k));
}

async function main(): Promise<void> {
  let values: { config?: string; only?: string[]; 'dry-run'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { config: { type: 'string' }, only: { type: 'string', multiple: true }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true, allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  if (!values.config) throw new UsageError('--config FILE is required');
  const unknown = (values.only ?? []).filter((k) => !MIRRORED.includes(k));
  if (unknown.length) throw new UsageError(`--only: unknown image(s) ${unknown.join(', ')}; mirrored images are ${MIRRORED.join(', ')}`);
  const city = loadCity(values.config);
  const keys = mirroredImagesOf(city).filter((k) => !values.only || values.only.includes(k));
  // The city's tag (when pinned) is the upstream tag it mirrors; the digest is printed after the
  // push, for the city file.
  const plan = keys.map((k) => {
    const tag = city.images[k]?.tag ?? IMAGE_CATALOG[k].tag;
    return { key: k, from: IMAGE_CATALOG[k].upstream!.replace(/:[^:/]+$/, `:${tag}`), to: imageReference(k, city.registry, { [k]: { tag } }) };
  });
  if (plan.length === 0) return console.log('nothing to mirror: this city runs no upstream image');
  console.log(`mirroring ${plan.length} image(s) into ${city.registry.host}/${city.registry.namespace}:`);
  const pins: string[] = [];
  for (const [i, p] of plan.entries()) {
    console.log(`[${i + 1}/${plan.length}] ${p.from} -> ${p.to}`);
    const steps = [['docker', 'pull', p.from], ['docker', 'tag', p.from, p.to], ['docker', 'push', p.to]];
    if (values['dry-run']) {
      for (const s of steps) console.log(`  [dry-run] ${s.join(' ')}`);
      continue;
    }
    const pull = await $({ quiet: true, nothrow: true })`docker pull ${p.from}`;
    if (pull.exitCode !== 0) throw new StepError(`cannot pull ${p.from}: ${pull.stderr.trim().split('\n').at(-1)}\n  run this on a build host with internet access (the deploy hosts never need it)`);
    await $({ quiet: true })`docker tag ${p.from} ${p.to}`;
    await $({ quiet: true })`docker push ${p.to}`;
    const digest = (await $({ quiet: true })`docker inspect --format ${'{{range .RepoDigests}}{{println .}}{{end}}'} ${p.to}`).stdout.split('\n').find((d) => d.startsWith(p.to.split(':')[0]))?.split('@')[1];
    if (digest) pins.push(`  ${p.key}: { tag: ${p.to.split(':').at(-1)}, digest: ${digest} }`);
  }
  if (pins.length) console.log(`\npin them in ${values.config}:\nimages:\n${pins.join('\n')}`);
}

void runCommand(main, USAGE);
