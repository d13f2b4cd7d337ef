// Upstream release archives the engine tests build images from, when this machine holds one. The
// tests never download them (no packet leaves the machine): without one, the tests that need it
// say loudly that they did not run, and the image is not built.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultArchiveCache } from '../../scripts/lib/images.js';

export interface PresentArchive {
  readonly file: string;
  readonly version: string;
  readonly sha256: string;
}

/** Where the tests look, in order: SOCLE_TEST_<KEY>_ARCHIVE, then <archive cache>/<key>-<version>.tar.gz|.zip. */
export function lookedIn(key: string): string {
  return `$SOCLE_TEST_${key.toUpperCase()}_ARCHIVE, or ${defaultArchiveCache()}/${key}-<version>.tar.gz|.zip`;
}

/** The release archive of `key` on this machine, or undefined. */
export function presentArchive(key: string): PresentArchive | undefined {
  const named = process.env[`SOCLE_TEST_${key.toUpperCase()}_ARCHIVE`];
  const dir = defaultArchiveCache();
  const file = named ?? (existsSync(dir) ? readdirSync(dir).sort().map((f) => join(dir, f)).find((f) => new RegExp(`/${key}-[^/]+\\.(tar\\.gz|zip)$`).test(f)) : undefined);
  if (!file || !existsSync(file)) return undefined;
  const version = new RegExp(`${key}-(.+)\\.(tar\\.gz|zip)$`).exec(file)?.[1] ?? 'unknown';
  return { file, version, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
}
