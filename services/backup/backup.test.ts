import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { BackupRunner } from './index.js';
import { MariaDb } from '../mariadb/index.js';
import { containerNamed, synthInHost } from '../../tests/helpers.js';

const target = { name: 'nas', host: 'nas.ville-exemple.fr', port: 22, user: 'restic', path: '/srv/restic' };

describe('BackupRunner', () => {
  it('mounts the volumes read-only, joins the data networks and dumps the databases', () => {
    const json = synthInHost((s) => {
      const net = s.network(s, { name: 'app-data', tier: 'data' });
      const db = new MariaDb(s, 'db', { service: 'app', network: net });
      const uploads = s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: '1 year' });
      new BackupRunner(s, 'backup', { targets: [target], volumes: [uploads], databases: [db.connection], password: s.secretVariable('restic_password', 'x'), sshPrivateKey: s.secretVariable('k', 'x') });
    });
    const runner = containerNamed(json, 'ville-exemple-backup-restic');
    expect(runner.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ container_path: '/data/app-uploads', read_only: true })]));
    expect(runner.env).toEqual(expect.arrayContaining(['RESTIC_PASSWORD=${var.restic_password}', 'SOCLE_DB_0=mariadb app app-db 3306 app socle_backup', 'SOCLE_BACKUP_TARGETS=nas=sftp://restic@nas.ville-exemple.fr:22//srv/restic']));
    expect(runner.networks_advanced).toHaveLength(2);
  });

  it('reads every file as root with DAC_READ_SEARCH only, and keeps the dumps out of restic\'s cache', () => {
    const json = synthInHost((s) => {
      const keys = s.volume(s, { name: 'onion-keys', service: 'onion', category: 'secret', retention: 'x', expectContent: true });
      const uploads = s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: 'x' });
      new BackupRunner(s, 'backup', { targets: [target], volumes: [keys, uploads], databases: [], password: 'x', sshPrivateKey: 'y', maxAgeHours: 12, checkEveryDays: 3 });
    });
    const runner = containerNamed(json, 'ville-exemple-backup-restic');
    expect(runner.user).toBe('0:0');
    expect(runner.capabilities).toEqual({ drop: ['ALL'], add: ['CAP_DAC_READ_SEARCH'] });
    expect(runner.security_opts).toContain('no-new-privileges:true');
    expect(runner.env).toEqual(expect.arrayContaining([
      'SOCLE_BACKUP_VOLUMES=onion-keys app-uploads', 'SOCLE_BACKUP_REQUIRED_VOLUMES=onion-keys',
      'SOCLE_BACKUP_MAX_AGE_HOURS=12', 'SOCLE_BACKUP_CHECK_EVERY_DAYS=3', 'RESTIC_CACHE_DIR=/var/lib/socle-backup/cache',
    ]));
    // restic leaves its cache directory out of backups: the dumps (socle-backup's DUMPS) must not be in it.
    const script = readFileSync(new URL('./bin/socle-backup', import.meta.url), 'utf8');
    expect(script).toContain('DUMPS=/var/lib/socle-backup/dumps\n');
  });

  it('fails without a target', () => {
    expect(() => synthInHost((s) => new BackupRunner(s, 'backup', { targets: [], volumes: [], databases: [], password: 'x', sshPrivateKey: 'y' }))).toThrow(/at least one target/);
  });
});
