// Builds Socle's images from Debian only: a debootstrap base imported into Docker, then one
// Dockerfile per service FROM that base. A build is skipped when an image with the same recipe
// hash (a label) exists, so repeated runs and test suites reuse the cache.
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { IMAGE_CATALOG, imageReference, type RegistrySettings, type UpstreamRelease } from '../../services/common/images.js';
import { InputError, StepError } from '../../core/errors.js';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const RECIPE_LABEL = 'fr.socle.recipe';
const DEBIAN_SUITE = 'bookworm';

/** The images Socle builds itself, base first; `release` ones also need their upstream archive. */
export const BUILDABLE = Object.entries(IMAGE_CATALOG)
  .filter(([, e]) => e.origin === 'built' && e.buildDir)
  .map(([key, e]) => ({ key, dir: join(ROOT, e.buildDir!), release: e.release }))
  .sort((a, b) => (a.key === 'base' ? -1 : b.key === 'base' ? 1 : a.key.localeCompare(b.key)));

export interface BuiltImage {
  readonly key: string;
  readonly ref: string;
  readonly sizeMB: number;
  readonly seconds: number;
  readonly cached: boolean;
}

export interface BuildOptions {
  readonly registry: RegistrySettings;
  /** Debian mirror for debootstrap. @default the machine's apt source, else http://deb.debian.org/debian */
  readonly mirror?: string;
  /** Only these catalog keys (the base is always built first when missing). @default all */
  readonly only?: readonly string[];
  /** Rebuild even when the recipe is unchanged. @default false */
  readonly force?: boolean;
  /** Releases the city file names instead of the catalog's (`images.<key>.release`). */
  readonly releases?: Readonly<Record<string, UpstreamRelease | undefined>>;
  /** Release archives already on this machine, by catalog key (air-gapped build hosts). @default downloaded */
  readonly archives?: Readonly<Record<string, string>>;
  /** Where downloaded archives are kept. @default ~/.cache/socle/archives */
  readonly archiveCache?: string;
  readonly onProgress?: (line: string) => void;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The release archive of `key`, checked against the SHA-256 its release names: the file given, or
 * the cached download, or a download now (a build host with internet access). A file whose
 * checksum differs stops the build (exit 2): it is not the release the catalog or city file names.
 */
async function releaseArchive(key: string, release: UpstreamRelease, given: string | undefined, cacheDir: string, say: (l: string) => void): Promise<string> {
  if (!release.sha256) {
    throw new InputError(`the image catalog names no SHA-256 for ${key} ${release.version} (Socle could not confirm one): an archive nobody checked is never built.\n`
      + `  fix: download ${release.url}, verify it as upstream says (its GPG signature), then name it in the city file: images.${key}.release: { version: "${release.version}", url: "${release.url}", sha256: <its SHA-256> }`);
  }
  const named = `the ${key} ${release.version} release (SHA-256 ${release.sha256})`;
  const check = async (file: string, origin: string) => {
    const actual = await sha256Of(file);
    if (actual !== release.sha256) {
      throw new InputError(`${origin}: SHA-256 ${actual}, but ${named} is expected: this is not that archive.\n`
        + `  fix: download it again from ${release.url}, or, if the city means another release, name it in the city file (images.${key}.release: version, url, sha256)`);
    }
    return file;
  };
  if (given) {
    if (!existsSync(given)) throw new InputError(`--archive ${key}=${given}: no such file`);
    return check(given, `--archive ${key}=${given}`);
  }
  const cached = join(cacheDir, `${key}-${release.sha256}.archive`);
  if (existsSync(cached)) return check(cached, cached);
  if (release.url.startsWith('file://')) return check(fileURLToPath(release.url), release.url);
  mkdirSync(cacheDir, { recursive: true });
  say(`downloading ${release.url}`);
  let response: Response;
  try {
    response = await fetch(release.url);
  } catch (err) {
    throw new StepError(`cannot download ${release.url} (${(err as Error).message}): on a build host without internet access, download it elsewhere and pass --archive ${key}=FILE`);
  }
  if (!response.ok || !response.body) throw new StepError(`${release.url} answered ${response.status}: check the URL in the catalog or the city file, or pass --archive ${key}=FILE`);
  const total = Number(response.headers.get('content-length') ?? 0);
  const part = `${cached}.part`;
  const out = createWriteStream(part);
  let received = 0;
  let shown = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    out.write(chunk);
    received += chunk.length;
    if (total && received / total >= shown + 0.1) {
      shown = Math.floor((received / total) * 10) / 10;
      say(`downloading ${release.url}: ${Math.round(shown * 100)} %`);
    }
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  await check(part, release.url).catch((err) => {
    rmSync(part, { force: true });
    throw err;
  });
  renameSync(part, cached);
  return cached;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** Hash of a recipe folder (names, modes and contents), chained with the base's for services. */
export function recipeHash(dir: string, parent = ''): string {
  const h = createHash('sha256').update(parent).update(DEBIAN_SUITE);
  for (const f of filesUnder(dir)) {
    if (/\.(test\.ts|md)$/.test(f) || f.endsWith('.ts')) continue; // constructs and docs do not change the image
    h.update(relative(dir, f)).update(String(statSync(f).mode & 0o111)).update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

/** The Debian mirror this machine's apt uses. */
export function defaultMirror(): string {
  const sources = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(sources)) {
    const uri = /^URIs:\s*(\S+)/m.exec(readFileSync(sources, 'utf8'));
    if (uri && !uri[1].includes('security')) return uri[1];
  }
  return 'http://deb.debian.org/debian';
}

async function recipeOf(ref: string): Promise<string | undefined> {
  const r = await $({ quiet: true, nothrow: true })`docker image inspect --format ${`{{index .Config.Labels "${RECIPE_LABEL}"}}`} ${ref}`;
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

async function sizeMB(ref: string): Promise<number> {
  const r = await $({ quiet: true })`docker image inspect --format {{.Size}} ${ref}`;
  return Number(r.stdout.trim()) / 1e6;
}

async function buildBase(ref: string, hash: string, mirror: string, dir: string, say: (l: string) => void): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'socle-base-'));
  const rootfs = join(work, 'rootfs');
  try {
    say(`debootstrap ${DEBIAN_SUITE} (minbase) from ${mirror}`);
    await $({ quiet: true })`debootstrap --variant=minbase ${DEBIAN_SUITE} ${rootfs} ${mirror}`;
    cpSync(join(dir, 'rootfs'), rootfs, { recursive: true });
    // Mount point of the tmpfs socle-files writes to: a tmpfs takes this directory's mode.
    await $({ quiet: true })`install -d -m 1777 ${join(rootfs, 'etc/socle')}`;
    // Security updates too: images are rebuilt from the mirror, so they pick up fixes.
    await $({ quiet: true })`sh -c ${`printf 'deb ${mirror} ${DEBIAN_SUITE} main\\ndeb ${mirror} ${DEBIAN_SUITE}-updates main\\ndeb ${mirror.replace(/\/debian\/?$/, '/debian-security')} ${DEBIAN_SUITE}-security main\\n' > ${rootfs}/etc/apt/sources.list`}`;
    say('trimming docs, man pages, locales and apt caches');
    await $({ quiet: true })`sh -c ${[
      `rm -rf ${rootfs}/var/cache/apt/* ${rootfs}/var/lib/apt/lists/* ${rootfs}/usr/share/man/* ${rootfs}/usr/share/info/* ${rootfs}/var/log/*`,
      `find ${rootfs}/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete`,
      `find ${rootfs}/usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +`,
    ].join(' && ')}`;
    say('importing into Docker');
    await $({ quiet: true })`sh -c ${`tar --numeric-owner -C ${rootfs} -c . | docker import --change 'LABEL ${RECIPE_LABEL}=${hash}' --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' - ${ref}`}`;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function defaultArchiveCache(): string {
  return process.env.SOCLE_ARCHIVE_CACHE ?? join(homedir(), '.cache/socle/archives');
}

/** Builds (or reuses) every buildable image, base first; returns what it did for each. */
export async function buildImages(options: BuildOptions): Promise<BuiltImage[]> {
  const say = options.onProgress ?? (() => undefined);
  const mirror = options.mirror ?? defaultMirror();
  const wanted = options.only ? BUILDABLE.filter((b) => b.key === 'base' || options.only!.includes(b.key)) : BUILDABLE;
  const results: BuiltImage[] = [];
  const baseRef = imageReference('base', options.registry, {});
  // The base's recipe is its folder and the code that builds it (this file's source, which is the
  // same text whichever tool loads it: tsx, or vitest's transform).
  const baseHash = recipeHash(BUILDABLE[0].dir, readFileSync(new URL(import.meta.url), 'utf8'));
  // Every release archive is checked before anything is built: a wrong one stops the build at once.
  const archives = new Map<string, string>();
  for (const image of wanted) {
    const release = options.releases?.[image.key] ?? image.release;
    if (release) archives.set(image.key, await releaseArchive(image.key, release, options.archives?.[image.key], options.archiveCache ?? defaultArchiveCache(), (l) => say(`${image.key}: ${l}`)));
  }
  for (const [i, image] of wanted.entries()) {
    const ref = imageReference(image.key, options.registry, {});
    const release = options.releases?.[image.key] ?? image.release;
    // A release's checksum is part of its recipe: another archive is another image.
    const hash = image.key === 'base' ? baseHash : recipeHash(image.dir, baseHash + (release?.sha256 ?? ''));
    const prefix = `[${i + 1}/${wanted.length}] ${image.key}`;
    const started = Date.now();
    const cached = !options.force && (await recipeOf(ref)) === hash;
    if (cached) {
      say(`${prefix}: up to date (${ref})`);
    } else if (image.key === 'base') {
      await buildBase(ref, hash, mirror, image.dir, (l) => say(`${prefix}: ${l}`));
    } else if (release) {
      // The archive joins the recipe in a build context of its own; the Dockerfile checks it again.
      const archive = archives.get(image.key)!;
      const context = mkdtempSync(join(tmpdir(), `socle-${image.key}-`));
      try {
        cpSync(image.dir, context, { recursive: true });
        copyFileSync(archive, join(context, 'release.archive'));
        say(`${prefix}: docker build ${relative(ROOT, image.dir)} with ${image.key} ${release.version}`);
        await $({ quiet: true })`docker build --quiet --build-arg ${`BASE=${baseRef}`} --build-arg ${`RELEASE_SHA256=${release.sha256}`} --label ${`${RECIPE_LABEL}=${hash}`} --tag ${ref} ${context}`;
      } finally {
        rmSync(context, { recursive: true, force: true });
      }
    } else {
      say(`${prefix}: docker build ${relative(ROOT, image.dir)}`);
      await $({ quiet: true })`docker build --quiet --build-arg ${`BASE=${baseRef}`} --label ${`${RECIPE_LABEL}=${hash}`} --tag ${ref} ${image.dir}`;
    }
    const result = { key: image.key, ref, sizeMB: await sizeMB(ref), seconds: (Date.now() - started) / 1000, cached };
    say(`${prefix}: ${result.sizeMB.toFixed(0)} MB, ${result.seconds.toFixed(1)} s${cached ? ' (cached)' : ''}`);
    results.push(result);
  }
  return results;
}

/** Pushes images to their registry, in order, saying which; a refusal names the fix. */
export async function pushImages(refs: readonly string[], say: (line: string) => void = () => undefined): Promise<void> {
  for (const [i, ref] of refs.entries()) {
    say(`[${i + 1}/${refs.length}] pushing ${ref}`);
    const r = await $({ quiet: true, nothrow: true })`docker push ${ref}`;
    if (r.exitCode !== 0) {
      const registry = ref.split('/')[0];
      throw new StepError(`docker push ${ref} failed:\n  ${r.stderr.trim().split('\n').slice(-3).join('\n  ')}\n  fix: check that ${registry} answers from this machine, then docker login ${registry} if it asks for credentials`);
    }
  }
}
