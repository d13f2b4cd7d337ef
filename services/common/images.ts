/**
 * Every image Socle runs, by catalog key. References are always `<city registry>/<namespace>/<name>`:
 * images Socle builds from Debian (`built`) and upstream images the city mirrors by digest
 * (`mirrored`, see scripts/mirror-images). Nothing is pulled from Docker Hub or GHCR at deploy time.
 */
export interface CatalogImage {
  readonly name: string;
  readonly tag: string;
  readonly origin: 'built' | 'mirrored';
  /** For mirrored images: where the city copies it from, on a build host with internet access. */
  readonly upstream?: string;
  /** For built images: the folder holding its recipe (Dockerfile, or base/rootfs), from the repository root. */
  readonly buildDir?: string;
  /** For images built from an upstream release (LimeSurvey): the archive, checked by SHA-256. */
  readonly release?: UpstreamRelease;
}

/** An upstream release archive, named by version, URL and SHA-256 (a city file may name another). */
export interface UpstreamRelease {
  readonly version: string;
  readonly url: string;
  /** Absent when Socle could not confirm it: the city file must then name the archive it verified. */
  readonly sha256?: string;
}

export const IMAGE_CATALOG: Readonly<Record<string, CatalogImage>> = {
  base: { name: 'base', tag: 'bookworm', origin: 'built', buildDir: 'services/base' },
  nginx: { name: 'nginx', tag: 'bookworm', origin: 'built', buildDir: 'services/reverse-proxy' },
  tor: { name: 'tor', tag: 'bookworm', origin: 'built', buildDir: 'services/onion' },
  mariadb: { name: 'mariadb', tag: 'bookworm', origin: 'built', buildDir: 'services/mariadb' },
  postgres: { name: 'postgres', tag: 'bookworm', origin: 'built', buildDir: 'services/postgres' },
  redis: { name: 'redis', tag: 'bookworm', origin: 'built', buildDir: 'services/redis' },
  backup: { name: 'backup', tag: 'bookworm', origin: 'built', buildDir: 'services/backup' },
  // ACME client: not built yet (docs/limits.md); a city file asking for it is refused.
  acme: { name: 'acme', tag: 'bookworm', origin: 'built' },
  sftp: { name: 'sftp', tag: 'bookworm', origin: 'built', buildDir: 'services/backup-store' },
  // The release's source archive on the LimeSurvey project's GitHub (it carries vendor/). The
  // checksum is the one published for this archive by martialblog/docker-limesurvey's Dockerfile at
  // 6.2.1+230807; it could not be downloaded here to confirm it, and build-images refuses any other.
  limesurvey: {
    name: 'limesurvey', tag: '6.2.1', origin: 'built', buildDir: 'services/limesurvey',
    release: {
      version: '6.2.1+230807',
      url: 'https://github.com/LimeSurvey/LimeSurvey/archive/refs/tags/6.2.1+230807.tar.gz',
      sha256: 'bcbce002d719555c49d380bc8044ce3fb40dcb71ba87d1d3f04debc5ff331902',
    },
  },
  // The official release archive. Matomo publishes GPG signatures (.asc), not checksums, and the
  // archive could not be downloaded here: the catalog names no SHA-256, so build-images asks the
  // city to name the one it verified (images.matomo.release) rather than trust an unchecked file.
  matomo: {
    name: 'matomo', tag: '5.0.2', origin: 'built', buildDir: 'services/matomo',
    release: { version: '5.0.2', url: 'https://builds.matomo.org/matomo-5.0.2.tar.gz' },
  },
  // The generated app decidim/docker builds for each Decidim release (`decidim --queue sidekiq .`,
  // WORKDIR /code, no USER), tagged with the full version. 0.32 is the newest release line, in
  // security support (SECURITY.md: the last two minor versions). The tag could not be looked up on
  // GHCR from here: a city mirrors it by digest, and pins a newer 0.32.x patch when there is one.
  // CONSUL Democracy publishes no production image: no catalog entry (services/consultation/README.md).
  decidim: { name: 'decidim', tag: '0.32.1', origin: 'mirrored', upstream: 'ghcr.io/decidim/decidim:0.32.1' },
};

export interface RegistrySettings {
  readonly host: string;
  readonly namespace: string;
}

/**
 * `<registry>/<namespace>/<name>:<tag>[@digest]` for a catalog key, or for a city image name
 * (a consultation app the city packaged itself), with the city's pins applied.
 */
export function imageReference(key: string, registry: RegistrySettings, pins: Readonly<Record<string, { tag?: string; digest?: string }>>): string {
  const entry = IMAGE_CATALOG[key];
  const pin = pins[key] ?? {};
  const name = entry?.name ?? key;
  const tag = pin.tag ?? entry?.tag ?? 'latest';
  const ref = `${registry.host}/${registry.namespace}/${name}:${tag}`;
  return pin.digest ? `${ref}@${pin.digest}` : ref;
}
