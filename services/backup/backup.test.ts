import { describe, expect, it } from 'vitest';
import { Testing } from 'cdktf';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { BackupRunner, type BackupAlerts } from './index.js';
import { BACKUP_PLAN_PATH, type BackupPlan } from './plan.js';
import { MariaDb } from '../mariadb/index.js';
import { Postgres } from '../postgres/index.js';
import { HostStack } from '../../stacks/host-stack.js';
import { loadCity } from '../../stacks/config/load.js';
import { LABEL } from '../../core/labels.js';
import { EXAMPLE, containerNamed, fileOf, resources, synthInHost, synthToDisk, testAlerts } from '../../tests/helpers.js';

const target = { name: 'nas', host: 'nas.ville-exemple.fr', port: 22, user: 'restic', path: '/srv/restic' };
const RUNNER = 'ville-exemple-backup-restic';
const runnerProps = (s: HostStack, alerts: Partial<BackupAlerts> = {}, relayCa?: string) => ({
  targets: [target], password: s.secretVariable('restic_password', 'x'), sshPrivateKey: s.secretVariable('k', 'x'), alerts: { ...testAlerts(s, relayCa), ...alerts },
});
const planOf = (runner: any): BackupPlan => JSON.parse(fileOf(runner, BACKUP_PLAN_PATH));

describe('BackupRunner', () => {
  it('backs up what is declared after it: volumes mounted read-only, data networks joined, databases dumped', () => {
    const json = synthInHost((s) => {
      // Declared first: the runner reads its host when the stack is synthesized.
      new BackupRunner(s, 'backup', runnerProps(s));
      const net = s.network(s, { name: 'app-data', tier: 'data' });
      new MariaDb(s, 'db', { service: 'app', network: net });
      s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: '1 year' });
    });
    const runner = containerNamed(json, RUNNER);
    const plan = planOf(runner);
    expect(plan.volumes).toEqual([{ name: 'app-uploads', mountPath: '/data/app-uploads', expectContent: false }]);
    expect(plan.databases).toEqual([{ service: 'app', engine: 'mariadb', host: 'app-db', port: 3306, database: 'app', user: 'socle_backup', passwordEnv: 'SOCLE_DB_0_PASSWORD', dumpFile: 'app-mariadb.sql' }]);
    expect(plan.targets).toEqual([{ name: 'nas', url: 'sftp://restic@nas.ville-exemple.fr:22//srv/restic' }]);
    expect(runner.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ container_path: '/data/app-uploads', read_only: true })]));
    expect(runner.volumes).not.toEqual(expect.arrayContaining([expect.objectContaining({ container_path: '/data/backup-cache' })]));
    expect(runner.env).toEqual(expect.arrayContaining(['RESTIC_PASSWORD=${var.restic_password}', expect.stringMatching(/^SOCLE_DB_0_PASSWORD=\$\{random_password\.db_dump-password_\w+\.result\}$/)]));
    // Its egress, the mail network (alerts) and the database's data network.
    expect(runner.networks_advanced.map((n: any) => n.name)).toEqual(['${docker_network.network-backup-egress.name}', '${docker_network.network-mail.name}', '${docker_network.network-app-data.name}']);
  });

  it('mails its alerts through the host\'s mail gateway: TLS for the relay\'s name with the city CA, the password by reference', () => {
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB-test-ca\n-----END CERTIFICATE-----\n';
    const json = synthInHost((s) => {
      new BackupRunner(s, 'backup', runnerProps(s, { retrySeconds: [2, 4] }, ca));
      s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: '1 year' });
    });
    const runner = containerNamed(json, RUNNER);
    const plan = planOf(runner);
    expect(plan.alerts).toEqual({
      to: ['dsi@ville-exemple.fr'], from: 'ne-pas-repondre@ville-exemple.fr', label: 'Ville-Exemple, serveur-1',
      host: 'zimbra.ville-exemple.fr', port: 587, security: 'starttls', user: 'socle@ville-exemple.fr',
      passwordEnv: 'SOCLE_SMTP_PASSWORD', trustFile: plan.paths.relayCa, retrySeconds: [2, 4], flushEveryMinutes: 15,
    });
    expect(fileOf(runner, plan.paths.relayCa)).toBe(ca);
    // The secret is the deploy's variable, in the environment only: never in the plan.
    expect(runner.env).toContain('SOCLE_SMTP_PASSWORD=${var.smtp_password}');
    expect(JSON.stringify(plan)).not.toMatch(/var\.smtp_password/);
    expect(runner.networks_advanced.map((n: any) => n.name)).toContain('${docker_network.network-mail.name}');
    // The alert queue is on the runner's volume (kept when the container is recreated).
    expect(plan.paths.alertQueue.startsWith(`${plan.paths.home}/`)).toBe(true);
  });

  it('checks the relay against Debian\'s CA bundle when the city gives no CA, and refuses an alert without an address', () => {
    const json = synthInHost((s) => {
      new BackupRunner(s, 'backup', runnerProps(s));
      s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: '1 year' });
    });
    expect(planOf(containerNamed(json, RUNNER)).alerts.trustFile).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(() => synthInHost((s) => new BackupRunner(s, 'backup', runnerProps(s, { to: [] })))).toThrow(/at least one alert address; add mail.alerts/);
    expect(() => synthInHost((s) => new BackupRunner(s, 'backup', runnerProps(s, { retrySeconds: [0] })))).toThrow(/whole positive seconds/);
  });

  it('numbers the dump passwords in the order the databases were declared', () => {
    const json = synthInHost((s) => {
      new BackupRunner(s, 'backup', runnerProps(s));
      new Postgres(s, 'first', { service: 'first', network: s.network(s, { name: 'first-data', tier: 'data' }) });
      new MariaDb(s, 'second', { service: 'second', network: s.network(s, { name: 'second-data', tier: 'data' }) });
    });
    const runner = containerNamed(json, RUNNER);
    const plan = planOf(runner);
    expect(plan.databases.map((d) => [d.dumpFile, d.passwordEnv])).toEqual([['first-postgres.sql', 'SOCLE_DB_0_PASSWORD'], ['second-mariadb.sql', 'SOCLE_DB_1_PASSWORD']]);
    expect(runner.env).toEqual(expect.arrayContaining([expect.stringMatching(/^SOCLE_DB_0_PASSWORD=\$\{random_password\.first_dump-password_/), expect.stringMatching(/^SOCLE_DB_1_PASSWORD=\$\{random_password\.second_dump-password_/)]));
  });

  it('reads every file as root with DAC_READ_SEARCH only, and writes its settings into the plan', () => {
    const json = synthInHost((s) => {
      s.volume(s, { name: 'onion-keys', service: 'onion', category: 'secret', retention: 'x', expectContent: true });
      s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: 'x' });
      new BackupRunner(s, 'backup', { targets: [target], password: 'x', sshPrivateKey: 'y', alerts: testAlerts(s), maxAgeHours: 12, checkEveryDays: 3, schedule: '01:30', retention: { daily: 1, weekly: 2, monthly: 3 } });
    });
    const runner = containerNamed(json, RUNNER);
    expect(runner.user).toBe('0:0');
    expect(runner.capabilities).toEqual({ drop: ['ALL'], add: ['CAP_DAC_READ_SEARCH'] });
    expect(runner.security_opts).toContain('no-new-privileges:true');
    expect(runner.healthcheck.test).toEqual(['CMD', 'socle-backup', 'healthy']);
    const plan = planOf(runner);
    expect(plan).toMatchObject({ maxAgeHours: 12, checkEveryDays: 3, schedule: '01:30', retention: { daily: 1, weekly: 2, monthly: 3 }, resticHost: 'ville-exemple-backup' });
    expect(plan.volumes.filter((v) => v.expectContent).map((v) => v.name)).toEqual(['onion-keys']);
    // restic leaves its cache directory out of backups: the dumps must not be in it.
    expect(runner.env).toContain(`RESTIC_CACHE_DIR=${plan.paths.cache}`);
    expect(plan.paths.dumps.startsWith(`${plan.paths.cache}/`)).toBe(false);
  });

  it('fails without a target', () => {
    expect(() => synthInHost((s) => new BackupRunner(s, 'backup', { targets: [], password: 'x', sshPrivateKey: 'y', alerts: testAlerts(s) }))).toThrow(/at least one target/);
  });

  it('fails validation when a volume labelled for backup was not declared through the platform', () => {
    const city = loadCity(EXAMPLE);
    const stack = new HostStack(Testing.app(), 'test-host', { city, host: city.hosts[0] });
    new BackupRunner(stack, 'backup', runnerProps(stack));
    stack.volume(stack, { name: 'app-uploads', service: 'app', category: 'personal', retention: 'x' });
    new Volume(stack, 'hand-made', { name: 'ville-exemple-hand-made', labels: [{ label: LABEL.backup, value: 'true' }] });
    expect(() => stack.runAllValidations()).toThrow(/volume ville-exemple-hand-made of test-host is labelled fr\.socle\.backup=true but the backup runner does not copy it/);
  });

  it('fails validation when there is nothing to back up on its host', () => {
    const city = loadCity(EXAMPLE);
    const stack = new HostStack(Testing.app(), 'test-host', { city, host: city.hosts[0] });
    new BackupRunner(stack, 'backup', runnerProps(stack));
    expect(() => stack.runAllValidations()).toThrow(/has nothing to back up/);
  });
});

describe('the dump accounts', () => {
  it('are in the environment of the backup runner and of their database only, never of an app', () => {
    const { stacks } = synthToDisk(EXAMPLE);
    let checked = 0;
    for (const { name, json } of stacks) {
      const dumpPasswords = Object.keys(json.resource?.random_password ?? {}).filter((k) => k.includes('dump-password')).map((k) => `\${random_password.${k}.result}`);
      for (const container of resources(json, 'docker_container')) {
        const holds = dumpPasswords.filter((p) => (container.env ?? []).some((e: string) => e.includes(p)));
        const role = container.labels.find((l: any) => l.label === LABEL.role)?.value;
        if (role === 'restic') expect(holds, `${name} ${container.name}`).toEqual(dumpPasswords);
        else if (role === 'db') expect(holds, `${name} ${container.name}`).toHaveLength(1);
        else expect(holds, `${name} ${container.name}`).toEqual([]);
        checked += holds.length;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});
