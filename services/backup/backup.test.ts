import { describe, expect, it } from 'vitest';
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

  it('fails without a target', () => {
    expect(() => synthInHost((s) => new BackupRunner(s, 'backup', { targets: [], volumes: [], databases: [], password: 'x', sshPrivateKey: 'y' }))).toThrow(/at least one target/);
  });
});
