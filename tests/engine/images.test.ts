import { describe, expect, it } from 'vitest';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { EXAMPLE, ROOT, exampleCity, run, tempDir, writeCity } from '../helpers.js';
import { BUILDABLE, recipeHash } from '../../scripts/lib/images.js';
import { TEST_REGISTRY } from './global-setup.js';
import { lookedIn, presentArchive } from './release-archives.js';
import { imageReference } from '../../services/common/images.js';

const node = (script: string, args: string[]) => run(process.execPath, ['--import', 'tsx', script, ...args]);

describe('images built from Debian (built once by the suite\'s global setup)', () => {
  // Targets: base <= 120 MB, databases <= 450 MB, the others <= 200 MB, naive builds being 199-711 MB.
  // LimeSurvey: PHP and Apache, plus the release itself (about 330 MB with its vendor/ and assets).
  const LIMITS: Record<string, number> = { base: 120, postgres: 450, mariadb: 450, nginx: 200, redis: 200, tor: 200, backup: 200, sftp: 200, limesurvey: 600, matomo: 450 };
  // Images from an upstream release exist only when the machine holds the archive (global setup).
  const BUILT = BUILDABLE.filter((b) => !b.release || presentArchive(b.key));
  const ref = (key: string) => imageReference(key, TEST_REGISTRY, {});
  for (const b of BUILDABLE.filter((x) => !BUILT.includes(x))) it.skip(`${b.key}: NOT RUN — no release archive on this machine (looked in ${lookedIn(b.key)})`, () => undefined);

  it.each(BUILT.map((b) => b.key))('%s is trimmed, labelled with its recipe and free of docs and apt lists', async (key) => {
    const size = Number((await $({ quiet: true })`docker image inspect --format {{.Size}} ${ref(key)}`).stdout) / 1e6;
    expect(size).toBeLessThanOrEqual(LIMITS[key]);
    const leftovers = await $({ quiet: true })`docker run --rm --network none --entrypoint sh ${ref(key)} -c ${'ls /var/lib/apt/lists | wc -l; find /usr/share/doc -type f ! -name copyright | wc -l; find /usr/share/man /usr/share/info -type f | wc -l; find /usr/share/locale -name \"*.mo\" | wc -l'}`;
    expect(leftovers.stdout.trim().split('\n').map(Number)).toEqual([0, 0, 0, 0]);
  });

  it('runs every service image as a non-root user, but the backup runner (root reading, nothing more)', async () => {
    const userOf = async (key: string) => (await $({ quiet: true })`docker image inspect --format {{.Config.User}} ${ref(key)}`).stdout.trim();
    for (const { key } of BUILT.filter((b) => b.key !== 'base' && b.key !== 'backup')) expect(await userOf(key), key).not.toMatch(/^(|root|0)$/);
    // It must read every file of the volumes it copies: the stack keeps only DAC_READ_SEARCH
    // (services/backup/backup.test.ts), and the policy pack records why.
    expect(await userOf('backup')).toBe('');
  });

  it('changes a recipe hash when a recipe file or the base changes, not when docs or constructs do', () => {
    const dir = tempDir();
    cpSync(join(ROOT, 'services/redis'), dir, { recursive: true });
    const before = recipeHash(dir, 'base');
    writeFileSync(join(dir, 'README.md'), 'notes');
    writeFileSync(join(dir, 'index.ts'), '// construct code');
    expect(recipeHash(dir, 'base')).toBe(before);
    expect(recipeHash(dir, 'other base')).not.toBe(before);
    writeFileSync(join(dir, 'Dockerfile'), `${readFileSync(join(dir, 'Dockerfile'), 'utf8')}\nRUN true\n`);
    expect(recipeHash(dir, 'base')).not.toBe(before);
  });
});

describe('scripts/build-images and scripts/mirror-images', () => {
  it('build-images reuses the cached images and prints name, size and time', () => {
    // The registry name the suite builds under (tests/engine/test-host.ts): its images exist.
    const config = writeCity(readFileSync(join(ROOT, 'tests/fixtures/ville-test.yaml'), 'utf8').replace('TLS_DIRECTORY', '/etc/socle/tls').replace(/^registry: .*$/m, 'registry: { host: "127.0.0.1:15000", namespace: socle }'));
    const r = node('scripts/build-images.ts', ['--config', config, '--only', 'redis']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/127\.0\.0\.1:15000\/socle\/redis:bookworm\s+\d+\s+[\d.]+\s+\(cached\)/);
    expect(r.stderr).toMatch(/\[2\/2\] redis: up to date/);
  });

  it('build-images refuses a release archive whose SHA-256 is not the one named, before building anything (exit 2)', () => {
    const wrong = join(tempDir(), 'limesurvey-6.2.1+230807.tar.gz');
    writeFileSync(wrong, 'not the release');
    const r = node('scripts/build-images.ts', ['--config', EXAMPLE, '--only', 'limesurvey', '--archive', `limesurvey=${wrong}`]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--archive limesurvey=\S+: SHA-256 [0-9a-f]{64}, but the limesurvey 6\.2\.1\+230807 release \(SHA-256 bcbce002[0-9a-f]+\) is expected: this is not that archive\.\n  fix: download it again from https:\/\/github\.com\/LimeSurvey/);
    expect(r.stderr).not.toMatch(/docker build|debootstrap/);
    expect(node('scripts/build-images.ts', ['--config', EXAMPLE, '--archive', 'limesurvey']).stderr).toMatch(/--archive limesurvey: expected KEY=FILE/);
  });

  it('build-images refuses unknown images and a missing config (exit 2)', () => {
    expect(node('scripts/build-images.ts', ['--config', EXAMPLE, '--only', 'nginxx']).status).toBe(2);
    expect(node('scripts/build-images.ts', []).stderr).toMatch(/--config FILE is required/);
  });

  it('mirror-images plans pull, tag and push into the city registry for the upstream images it uses', () => {
    const c = exampleCity();
    c.services.matomo.enabled = false;
    const r = node('scripts/mirror-images.ts', ['--config', writeCity(c), '--dry-run']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('[dry-run] docker pull ghcr.io/decidim/decidim:0.32.1');
    // LimeSurvey is Socle's own build now: nothing to mirror.
    expect(r.stdout).not.toContain('limesurvey');
    expect(r.stdout).toContain('[dry-run] docker push registre.ville-exemple.fr/socle/decidim:0.32.1');
    expect(r.stdout).not.toContain('matomo');
  });

  it('mirror-images refuses unknown images (exit 2) and prints its help', () => {
    const r = node('scripts/mirror-images.ts', ['--config', EXAMPLE, '--only', 'wordpress']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mirrored images are decidim\b/);
    expect(node('scripts/mirror-images.ts', ['--help']).stdout).toMatch(/build host with internet access/);
  });
});

describe('the engine setup', () => {
  it('stops with what to do, rather than skipping, when it cannot run the engine tests (not root)', () => {
    // Not root: a user namespace of its own (uid 65534 inside), so it still reads a checkout that only
    // root may traverse (a clone under mktemp -d); and no engine answers at the address it is given.
    const r = run('unshare', ['--user', '--', 'env', 'HOME=/tmp', 'DOCKER_HOST=unix:///nonexistent/docker.sock', process.execPath, '--import', 'tsx', 'tests/fixtures/ensure-engine.ts']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/DockerEngineUnavailable: no Docker engine answers for this user, and it is not root: start dockerd/);
  });

  it('finds the engine as root', () => {
    const r = run(process.execPath, ['--import', 'tsx', 'tests/fixtures/ensure-engine.ts']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('engine ok');
  });
});

describe('the shell programs inside the images', () => {
  // Entry points, socle-backup, socle-files...: every file under services/ with a shell shebang.
  const scripts = (function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return walk(path);
      return /^#!\/bin\/(ba)?sh\b/.test(readFileSync(path, 'utf8').slice(0, 20)) ? [path] : [];
    });
  })(join(ROOT, 'services'));

  it('pass shellcheck (Debian\'s), warnings included', () => {
    expect(scripts.map((s) => s.slice(ROOT.length + 1))).toEqual(expect.arrayContaining(['services/backup/bin/socle-backup', 'services/base/rootfs/usr/local/bin/socle-files']));
    const r = run('shellcheck', ['--severity=warning', ...scripts]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
