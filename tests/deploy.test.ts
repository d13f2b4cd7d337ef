// npm run deploy without a host: flags, secrets, dry runs and refusals. Applying for real is in
// tests/engine/stack.test.ts.
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from './helpers.js';

const MULTISITE = join(ROOT, 'examples/ville-exemple-multisite.yaml');
const PASSPHRASE = { SOCLE_STATE_PASSPHRASE: 'state-Sentinel-0b7e-long-enough' };
const deploy = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['--import', 'tsx', 'scripts/deploy.ts', ...args], env);

function backupKey(): string {
  const key = join(tempDir(), 'backup');
  writeFileSync(key, 'private-key-Sentinel-55e1\n');
  writeFileSync(`${key}.pub`, 'ssh-ed25519 public-key-Sentinel-9a0c socle-backup\n');
  return key;
}

describe('scripts/deploy', () => {
  it('plans every stack with OpenTofu by default, state encrypted, secrets passed as TF_VAR_ and never printed', () => {
    const secrets = { SOCLE_SMTP_PASSWORD: 'smtp-Sentinel-31f0', SOCLE_RESTIC_PASSWORD: 'restic-Sentinel-77b2', ...PASSPHRASE };
    const out = join(tempDir(), 'cdktf.out');
    const r = deploy(['--config', MULTISITE, '--out', out, '--backup-key', backupKey(), '--dry-run'], secrets);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[dry-run\] tofu -chdir=\S+\/stacks\/ville-exemple-applications init -input=false -lockfile=readonly/);
    expect(r.stdout).toMatch(/\[dry-run\] tofu -chdir=\S+\/stacks\/ville-exemple-frontal plan -input=false -no-color -detailed-exitcode -out=socle\.tfplan/);
    expect(r.stdout).toContain('TF_VAR_smtp_password <- environment variable SOCLE_SMTP_PASSWORD');
    expect(r.stdout).toContain('state and plans encrypted (OpenTofu, key from environment variable SOCLE_STATE_PASSPHRASE)');
    expect(r.stdout).not.toMatch(/ apply -input/);
    for (const v of [...Object.values(secrets), 'private-key-Sentinel-55e1', 'public-key-Sentinel-9a0c']) expect(r.stdout + r.stderr).not.toContain(v);
  });

  it('leaves the synthesized output as it is on a dry run', () => {
    const out = join(tempDir(), 'cdktf.out');
    const r = deploy(['--config', MULTISITE, '--out', out, '--backup-key', backupKey(), '--dry-run'], { SOCLE_SMTP_PASSWORD: 'x', SOCLE_RESTIC_PASSWORD: 'x', ...PASSPHRASE });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('dry run: nothing was run, cdktf.out was not touched');
    expect(existsSync(out)).toBe(false);
  });

  it('applies only the chosen stack when asked', () => {
    // The front host's backup runner mails its alerts: that stack needs the relay password too.
    const r = deploy(['--config', MULTISITE, '--backup-key', backupKey(), '--stack', 'ville-exemple-frontal', '--apply', '--dry-run'], { SOCLE_SMTP_PASSWORD: 'x', SOCLE_RESTIC_PASSWORD: 'x', ...PASSPHRASE });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tofu -chdir=\S+ville-exemple-frontal apply -input=false -no-color socle\.tfplan/);
    expect(r.stdout).not.toContain('ville-exemple-applications');
  });

  it('fails with exit 2 and says which secret is missing, state passphrase included, before touching any host', () => {
    const r = deploy(['--config', MULTISITE, '--backup-key', backupKey(), '--dry-run'], { SOCLE_SMTP_PASSWORD: '', SOCLE_RESTIC_PASSWORD: 'x', SOCLE_STATE_PASSPHRASE: '' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ville-exemple-applications: smtp_password .*export SOCLE_SMTP_PASSWORD=/);
    expect(r.stderr).toMatch(/state passphrase \(state\.passphrase = \{ env: SOCLE_STATE_PASSPHRASE \} in \S+ville-exemple-multisite\.yaml\): export SOCLE_STATE_PASSPHRASE=/);
    expect(r.stdout).not.toMatch(/tofu -chdir/);
  });

  it('skips the host firewall check only with a reason, and prints it', () => {
    const empty = deploy(['--config', MULTISITE, '--apply', '--skip-firewall-check', ' ', '--dry-run'], {});
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/--skip-firewall-check needs a reason, e\.g\. --skip-firewall-check "/);
    const help = deploy(['--help']);
    expect(help.stdout).toMatch(/--skip-firewall-check REASON\n\s+apply although the host firewall rule \(Ansible role docker_host\) is not\n\s+confirmed/);
  });

  it('refuses a state passphrase shorter than OpenTofu accepts', () => {
    const r = deploy(['--config', MULTISITE, '--backup-key', backupKey(), '--dry-run'], { SOCLE_SMTP_PASSWORD: 'x', SOCLE_RESTIC_PASSWORD: 'x', SOCLE_STATE_PASSPHRASE: 'short' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/has 5 characters; OpenTofu needs at least 16: generate one with openssl rand -base64 32/);
  });

  it('refuses Terraform unless the plaintext state is accepted in so many words', () => {
    const r = deploy(['--config', MULTISITE, '--backup-key', backupKey(), '--terraform', '--dry-run'], { SOCLE_SMTP_PASSWORD: 'x', SOCLE_RESTIC_PASSWORD: 'x' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Terraform cannot encrypt its state or plans.*--plaintext-state/s);
    const ok = deploy(['--config', MULTISITE, '--backup-key', backupKey(), '--terraform', '--plaintext-state', '--dry-run'], { SOCLE_SMTP_PASSWORD: 'x', SOCLE_RESTIC_PASSWORD: 'x' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/\[dry-run\] terraform -chdir=\S+ init/);
    expect(ok.stdout).toMatch(/state in clear \(--plaintext-state\)/);
  });

  it('fails with exit 2 on an unknown stack, an unknown container to replace, or two actions at once', () => {
    const env = { SOCLE_SMTP_PASSWORD: 'x', SOCLE_RESTIC_PASSWORD: 'x', ...PASSPHRASE };
    const stack = deploy(['--config', MULTISITE, '--stack', 'ville-exemple-front', '--dry-run'], env);
    expect(stack.status).toBe(2);
    expect(stack.stderr).toMatch(/unknown stack\(s\): ville-exemple-front; this config has: .*ville-exemple-frontal/);
    const replace = deploy(['--config', MULTISITE, '--backup-key', backupKey(), '--stack', 'ville-exemple-frontal', '--replace', 'nope', '--apply', '--dry-run'], env);
    expect(replace.status).toBe(2);
    expect(replace.stderr).toMatch(/--replace nope: no container of that name in ville-exemple-frontal; it has .*ville-exemple-proxy-nginx/);
    const both = deploy(['--config', MULTISITE, '--apply', '--destroy']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--apply and --destroy: choose one/);
  });

  it('prints its help', () => {
    const r = deploy(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--backup-key FILE/);
    expect(r.stdout).toMatch(/--destroy/);
  });
});
