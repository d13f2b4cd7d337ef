import { describe, expect, it } from 'vitest';
import { LimeSurvey } from './index.js';
import { MailGateway } from '../mail-gateway/index.js';
import type { HostStack } from '../../stacks/host-stack.js';
import { fileOf, containerNamed, synthInHost } from '../../tests/helpers.js';

const smtpOf = (s: HostStack) => new MailGateway(s, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', user: 'u@ville-exemple.fr', from: 'ne-pas-repondre@ville-exemple.fr', password: s.secretVariable('smtp_password', 'x') }).smtp;
const frontend = (s: HostStack) => ({ kind: 'network' as const, network: s.network(s, { name: 'frontend', tier: 'frontend' }) });

describe('LimeSurvey', () => {
  it('runs with MariaDB, mail through the relay, and config files without any password or key', () => {
    const json = synthInHost((s) => new LimeSurvey(s, 'limesurvey', { hostname: 'enquetes.ville-exemple.fr', smtp: smtpOf(s), exposure: frontend(s) }));
    const app = containerNamed(json, 'ville-exemple-limesurvey-app');
    const config = fileOf(app, '/etc/socle/limesurvey/config.php');
    expect(config).toContain("'emailsmtphost' => 'zimbra.ville-exemple.fr:587'");
    expect(config).toContain("'password' => getenv('DB_PASSWORD')");
    expect(config).toContain("'updatecheckperiod' => 0");
    // The keys and nonce are generated at deploy; security.php only reads them from the environment.
    const security = fileOf(app, '/etc/socle/limesurvey/security.php');
    expect(security).toContain("$config['encryptionsecretboxkey'] = getenv('LIMESURVEY_ENCRYPTION_KEY');");
    expect(security).toContain("$config['encryptionnonce'] = getenv('LIMESURVEY_ENCRYPTION_NONCE');");
    expect(app.env).toEqual(expect.arrayContaining(['DB_HOST=limesurvey-db', expect.stringMatching(/^DB_PASSWORD=\$\{random_password\./),
      expect.stringMatching(/^LIMESURVEY_ENCRYPTION_KEY=\$\{random_id\.[\w-]+\.hex\}$/), expect.stringMatching(/^LIMESURVEY_ENCRYPTION_NONCE=\$\{random_id\.[\w-]+\.hex\}$/),
      'SOCLE_PROXY_NAME=proxy']));
    // Socle's own image, read-only, as www-data; uploads on a volume, caches on another.
    expect(Object.values<any>(json.resource.docker_image).map((i) => i.name)).toContainEqual(expect.stringMatching(/\/socle\/limesurvey:6\.2\.1$/));
    expect(app.read_only).toBe(true);
    expect(app.user).toBe('www-data');
    expect(app.volumes.map((v: any) => v.container_path).sort()).toEqual(['/var/www/limesurvey/tmp', '/var/www/limesurvey/upload']);
    expect(containerNamed(json, 'ville-exemple-limesurvey-db').volumes[0].container_path).toBe('/var/lib/mysql');
    // A new image migrates the answers' tables: the deploy backs up first (scripts/lib/upgrade-gate.ts).
    expect(app.labels).toContainEqual({ label: 'fr.socle.upgrade-gate', value: 'socle-limesurvey authorize-upgrade' });
    // Not on an image the city packaged itself: it has no socle-limesurvey.
    const own = containerNamed(synthInHost((s) => new LimeSurvey(s, 'limesurvey', { hostname: 'e.ville-exemple.fr', smtp: smtpOf(s), exposure: frontend(s), image: 'enquetes-maison' })), 'ville-exemple-limesurvey-app');
    expect(own.labels.map((l: any) => l.label)).not.toContain('fr.socle.upgrade-gate');
  });

  it('fails when memoryMiB is below 256', () => {
    expect(() => synthInHost((s) => new LimeSurvey(s, 'limesurvey', { hostname: 'e.ville-exemple.fr', smtp: smtpOf(s), exposure: frontend(s), memoryMiB: 128 }))).toThrow(/at least 256/);
  });
});
