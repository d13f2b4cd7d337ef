import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from './helpers.js';

const ANSIBLE = join(ROOT, 'ansible');

describe('Ansible host preparation (ansible/)', () => {
  it('is lint-clean: yamllint and ansible-lint at the production profile', () => {
    const yaml = run('yamllint', ['--strict', '.'], {}, ANSIBLE);
    expect(yaml.status, yaml.stdout + yaml.stderr).toBe(0);
    const lint = run('ansible-lint', ['--nocolor'], { ANSIBLE_LOCAL_TEMP: tempDir(), HOME: tempDir() }, ANSIBLE);
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout + lint.stderr).toMatch(/Passed with production profile/);
  }, 120_000);

  it('converges in check mode against this Debian machine (modules and arguments are real)', () => {
    const inventory = join(tempDir(), 'inventory.yml');
    writeFileSync(inventory, '---\nsocle_hosts:\n  hosts:\n    localhost:\n      ansible_connection: local\n');
    // This machine runs no systemd (a container): the one task that talks to systemd is left out
    // by its tag; every other module runs for real in check mode.
    const r = run('ansible-playbook', ['-i', inventory, 'site.yml', '--check', '--diff', '--skip-tags', 'docker_host_boot', '-e', 'docker_host__deploy_user=socle-check'], { ANSIBLE_LOCAL_TEMP: tempDir(), HOME: tempDir() }, ANSIBLE);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/);
    expect(r.stdout).toContain('"log-driver": "json-file"');
  }, 180_000);
});
