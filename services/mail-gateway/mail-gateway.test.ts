import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MailGateway, RELAY_CA_PATH } from './index.js';
import { BACKUP_PLAN_PATH } from '../backup/plan.js';
import { fileOf, containerNamed, exampleCity, resources, synthInHost, synthToDisk, tempDir, writeCity } from '../../tests/helpers.js';

describe('MailGateway', () => {
  it('answers for the relay name on an internal network and forwards only to the relay address', () => {
    const json = synthInHost((s) => new MailGateway(s, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', port: 465, security: 'tls', user: 'u', from: 'n@ville-exemple.fr', password: 'x' }));
    const gw = containerNamed(json, 'ville-exemple-mail-gateway');
    expect(fileOf(gw, '/etc/socle/nginx.conf')).toMatch(/listen 465;\s+proxy_pass 10\.0\.0\.25:465;/);
    const nets = resources(json, 'docker_network');
    expect(nets.find((n) => n.name === 'ville-exemple-mail').internal).toBe(true);
    expect(nets.find((n) => n.name === 'ville-exemple-mail-egress').internal).toBe(false);
    expect(gw.sysctls).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0' });
  });
});

describe('the relay CA of the city file (mail.relay.ca)', () => {
  const ca = '-----BEGIN CERTIFICATE-----\nMIIBtest-city-ca\n-----END CERTIFICATE-----\n';
  const containersOf = (city: any) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca-mairie.pem'), ca);
    return synthToDisk(writeCity(city, 'ville.yaml', dir)).stacks.flatMap((s) => resources(s.json, 'docker_container'));
  };

  it('reaches every container that speaks TLS to the relay: the apps through SSL_CERT_FILE, the backup runner through msmtp', () => {
    const city = exampleCity();
    city.mail.relay.ca = 'ca-mairie.pem';
    const containers = containersOf(city);
    const senders = ['ville-exemple-consultation-web', 'ville-exemple-limesurvey-app', 'ville-exemple-matomo-app'];
    for (const name of senders) {
      const c = containers.find((x: any) => x.name === name);
      expect(c, name).toBeDefined();
      expect(c.env, name).toContain(`SSL_CERT_FILE=${RELAY_CA_PATH}`);
      expect(fileOf(c, RELAY_CA_PATH), name).toBe(ca);
    }
    const runners = containers.filter((x: any) => /-backup-restic$/.test(x.name));
    expect(runners.length).toBeGreaterThan(0);
    for (const r of runners) {
      const plan = JSON.parse(fileOf(r, BACKUP_PLAN_PATH));
      expect(plan.alerts.trustFile).toBe(plan.paths.relayCa);
      expect(fileOf(r, plan.paths.relayCa)).toBe(ca);
    }
    // Containers that send no mail do not get it.
    expect(containers.find((x: any) => x.name === 'ville-exemple-proxy-nginx')?.env ?? []).not.toContain(`SSL_CERT_FILE=${RELAY_CA_PATH}`);
  });

  it('changes nothing when the relay has a certificate from a public CA', () => {
    const containers = containersOf(exampleCity());
    for (const c of containers) expect((c.env ?? []).filter((e: string) => e.startsWith('SSL_CERT_FILE=')), c.name).toEqual([]);
  });
});
