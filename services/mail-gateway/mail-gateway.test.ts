import { describe, expect, it } from 'vitest';
import { MailGateway } from './index.js';
import { fileOf, containerNamed, resources, synthInHost } from '../../tests/helpers.js';

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
