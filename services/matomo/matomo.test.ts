import { describe, expect, it } from 'vitest';
import { Matomo } from './index.js';
import { MailGateway } from '../mail-gateway/index.js';
import { containerNamed, synthInHost } from '../../tests/helpers.js';

describe('Matomo', () => {
  it('runs without phone-home, with its archiving job on the data network only', () => {
    const json = synthInHost((s) => new Matomo(s, 'matomo', {
      hostname: 'statistiques.ville-exemple.fr', archiveIntervalMinutes: 30,
      smtp: new MailGateway(s, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', user: 'u', from: 'n@ville-exemple.fr', password: 'x' }).smtp,
      exposure: { kind: 'network', network: s.network(s, { name: 'frontend', tier: 'frontend' }) },
    }));
    const app = containerNamed(json, 'ville-exemple-matomo-app');
    expect(app.env).toEqual(expect.arrayContaining(['MATOMO_GENERAL_ENABLE_MARKETPLACE=0', 'MATOMO_GENERAL_ENABLE_INTERNET_FEATURES=0', 'MATOMO_MAIL_HOST=zimbra.ville-exemple.fr']));
    const archiver = containerNamed(json, 'ville-exemple-matomo-archiver');
    expect(archiver.command[0]).toContain('sleep 1800');
    expect(archiver.networks_advanced).toHaveLength(1);
  });
});
