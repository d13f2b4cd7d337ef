import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from './helpers.js';

const MULTISITE = join(ROOT, 'examples/ville-exemple-multisite.yaml');
const deploy = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['--import', 'tsx', 'scripts/deploy.ts', ...args], env);

function backupKey(): string {
  const key = join(tempDir(), 'backup');
  writeFileSync(key, 'private-key-Sentinel-55e1\n');
  writeFileSync(`${key}.pub`, 'ssh-ed25519 public-key-Sentinel-9a0c socle-backup\n');
  return key;
}

describe('scripts/deploy', () => {
  it('plans every stack with plain terraform, secrets passed as TF_VAR_ and never printed', () => {
    const secrets = { SOCLE_SMTP_PASSWORD: 'smtp-Sentinel-31f0', SOCLE_RESTIC_PASSWORD: 'restic-Sentinel-77b2' };
    const out = join(tempDir(), 'cdktf.out');
    const r = deploy(['--config', MULTISITE, '--out', out, '--backup-key', backupKey(), '--dry-run'], secrets);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`[dry-run] terraform -chdir=${out}/stacks/ville-exemple-applications init -input=false`);
    expect(r.stdout).toContain(`[dry-run] terraform -chdir=${out}/stacks/ville-exemple-frontal plan -input=false -out=socle.tfplan`);
    expect(r.stdout).toContain('TF_VAR_smtp_password <- environment variable SOCLE_SMTP_PASSWORD');
    expect(r.stdout).not.toMatch(/ apply -input/);
    for (const v of [...Object.values(secrets), 'private-key-Sentinel-55e1', 'public-key-Sentinel-9a0c']) expect(r.stdout + r.stderr).not.toContain(v);
  });

  it('applies only the chosen stack with OpenTofu when asked', () => {
    const r = deploy(['--config', MULTISITE, '--out', join(tempDir(), 'o'), '--backup-key', backupKey(), '--stack', 'ville-exemple-frontal', '--tofu', '--apply', '--dry-run'], { SOCLE_RESTIC_PASSWORD: 'x' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tofu -chdir=\S+ville-exemple-frontal apply -input=false socle\.tfplan/);
    expect(r.stdout).not.toContain('ville-exemple-applications');
  });

  it('fails with exit 2 and says which secret is missing, before touching any host', () => {
    const r = deploy(['--config', MULTISITE, '--out', join(tempDir(), 'o'), '--backup-key', backupKey()], { SOCLE_SMTP_PASSWORD: '', SOCLE_RESTIC_PASSWORD: 'x' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ville-exemple-applications: smtp_password .*export SOCLE_SMTP_PASSWORD=/);
    expect(r.stdout).not.toMatch(/terraform/);
  });

  it('fails with exit 2 on an unknown stack, listing the real ones', () => {
    const r = deploy(['--config', MULTISITE, '--out', join(tempDir(), 'o'), '--stack', 'ville-exemple-front', '--dry-run']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown stack\(s\): ville-exemple-front; this config has: .*ville-exemple-frontal/);
  });

  it('prints its help', () => {
    const r = deploy(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--backup-key FILE/);
  });
});
