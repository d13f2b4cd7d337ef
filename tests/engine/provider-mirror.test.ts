// npm run provider-mirror: OpenTofu and the providers from the Go module proxy, laid out as a
// filesystem mirror, checked against the committed lock file. The suite's global setup built the
// tools once (cached in SOCLE_TOOLS_DIR or ~/.cache/socle/tools); these runs reuse that build.
import { describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, run, tempDir } from '../helpers.js';
import { defaultToolsDir, mirrorPath, toolSet } from '../../scripts/lib/tools.js';
import { PROVIDER_PINS, REGISTRY_HOSTS } from '../../stacks/deploy-tools.js';

const mirror = (args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/provider-mirror.ts'), ...args]);

describe('npm run provider-mirror', () => {
  it('lays out the mirror under both registry names, with a CLI configuration that allows no registry', () => {
    const r = mirror([]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tools ready in \d+ s/);
    expect(r.stdout).toContain('mirror matches');
    const tools = toolSet(defaultToolsDir());
    for (const host of REGISTRY_HOSTS) for (const pin of PROVIDER_PINS) expect(existsSync(mirrorPath(tools.mirror, host, pin)), `${host} ${pin.source}`).toBe(true);
    const config = readFileSync(tools.cliConfig, 'utf8');
    expect(config).toMatch(/filesystem_mirror \{\s+path\s+= "[^"]+\/mirror"/);
    expect(config).toMatch(/direct \{\s+exclude = \["\*\/\*"\]\s+\}/);
    const version = spawnSync(tools.tofu, ['version'], { encoding: 'utf8' });
    expect(version.stdout).toMatch(/^OpenTofu v1\.12\.6$/m);
  }, 600_000);

  it('stops with exit 1 when a provider in the mirror is not the bytes the lock file pins', () => {
    const copy = tempDir('socle-tools-copy-');
    const tools = toolSet(defaultToolsDir());
    // The same tools, but one provider binary altered after its build.
    expect(spawnSync('cp', ['-al', `${tools.dir}/.`, copy]).status).toBe(0);
    // Hard links share bytes with the suite's tools: every file the run may write gets its own copy.
    for (const f of ['socle.tfrc']) { copyFileSync(join(copy, f), `${join(copy, f)}.tmp`); rmSync(join(copy, f)); copyFileSync(`${join(copy, f)}.tmp`, join(copy, f)); rmSync(`${join(copy, f)}.tmp`); }
    const pin = PROVIDER_PINS.find((p) => p.name === 'random')!;
    const built = join(copy, 'build', `terraform-provider-random_v${pin.version}`);
    copyFileSync(built, `${built}.tmp`);
    rmSync(built);
    copyFileSync(`${built}.tmp`, built);
    rmSync(`${built}.tmp`);
    appendFileSync(built, 'tampered');
    const r = mirror(['--dir', copy]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the mirror does not match the committed lock file/);
    expect(r.stderr).toMatch(/registry\.opentofu\.org\/hashicorp\/random: mirror has h1:\S+, lock file pins h1:/);
    expect(r.stderr).toMatch(/fix: build with the Go toolchain the lock file was made with/);
  }, 600_000);

  it('prints what it would build on a dry run, and writes nothing', () => {
    const dir = join(tempDir(), 'tools');
    const r = mirror(['--dir', dir, '--dry-run']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('[dry-run] go mod download -json github.com/opentofu/opentofu@v1.12.6');
    expect(r.stdout).toContain('github.com/kreuzwerker/terraform-provider-docker@v0.0.0-20260916201441-96d331c98ff4');
    expect(r.stdout).toMatch(/registry\.opentofu\.org\/kreuzwerker\/docker\/4\.6\.1-0\.20260916201441-96d331c98ff4\/linux_amd64\/terraform-provider-docker_v4\.6\.1/);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('has --help, and exit 2 with the usage on bad flags', () => {
    const help = mirror(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Pins \(stacks\/deploy-tools\.ts\): OpenTofu 1\.12\.6; kreuzwerker\/docker 4\.6\.1/);
    const bad = mirror(['--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/usage: npm run provider-mirror/);
    const both = mirror(['--relock', '--dry-run']);
    expect(both.status).toBe(2);
    const from = mirror(['--from', 'ftp']);
    expect(from.status).toBe(2);
    expect(from.stderr).toMatch(/--from ftp: expected build or registry/);
  });

  it('refuses to take from a registry a pin that is no registry release, and says to build it', () => {
    const r = mirror(['--from', 'registry', '--dry-run']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--from registry: kreuzwerker\/docker 4\.6\.1-0\.20260916201441-96d331c98ff4 is no registry release/);
    expect(r.stderr).toMatch(/fix: build it: npm run provider-mirror/);
  });
});
