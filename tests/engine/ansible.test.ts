import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from '../helpers.js';

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
    // This machine runs no systemd (a container): the tasks that talk to systemd are left out by
    // their tags; every other module runs for real in check mode. The roles are applied for real,
    // twice, to hosts running systemd in provision.test.ts.
    const r = run('ansible-playbook', ['-i', inventory, 'site.yml', '--check', '--diff', '--skip-tags', 'docker_host_boot,base_host_boot,host_firewall_boot',
      '-e', 'docker_host__deploy_user=socle-check', '-e', '{"host_firewall__admin_networks": ["10.0.0.0/8"]}'], { ANSIBLE_LOCAL_TEMP: tempDir(), HOME: tempDir() }, ANSIBLE);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/);
    expect(r.stdout).toContain('"log-driver": "json-file"');
  }, 180_000);

  it('loads the host firewall at boot with a unit systemd accepts, before Docker, which requires it', () => {
    const dir = tempDir();
    const unit = join(dir, 'socle-host-firewall.service');
    const template = join(ANSIBLE, 'roles/docker_host/templates/etc/systemd/system/socle-host-firewall.service.j2');
    const r = run('ansible', ['localhost', '--connection', 'local', '--inventory', 'localhost,', '--module-name', 'ansible.builtin.template', '--args', `src=${template} dest=${unit} mode=0644`],
      { ANSIBLE_LOCAL_TEMP: tempDir(), HOME: tempDir(), ANSIBLE_NOCOLOR: '1' }, ANSIBLE);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const text = readFileSync(unit, 'utf8');
    expect(text).toMatch(/^Before=network-pre\.target docker\.service$/m);
    expect(text).toMatch(/^RequiredBy=docker\.service$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/sbin\/nft -f \/etc\/socle\/host-firewall\.nft$/m);
    // Nothing in it flushes the ruleset (Docker's own rules live beside Socle's tables).
    expect(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')).not.toMatch(/flush/);
    const verify = run('systemd-analyze', ['verify', '--man=no', unit], {}, dir);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect((verify.stdout + verify.stderr).trim()).toBe('');
  }, 60_000);
});
