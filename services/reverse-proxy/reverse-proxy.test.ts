import { describe, expect, it } from 'vitest';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { ReverseProxy, type ReverseProxyProps } from './index.js';
import { REGISTER_FILE, REGISTER_PATH } from './register.js';
import { COOKIES_NOTICE_FILE, COOKIES_NOTICE_PATH, listedCookies } from './cookies-notice.js';
import { matomoPrivacy } from '../matomo/privacy.js';
import { Platform } from '../common/platform.js';
import { fileOf, containerNamed, resources, synthInHost } from '../../tests/helpers.js';
import { expectNoResourceWith, expectResourceWith } from '../../tests/matchers.js';

const notice: ReverseProxyProps['legalNotice'] = {
  communeName: 'Ville-Test', legalEntity: 'Commune de Ville-Test', address: { street: '1 rue', postcode: '99999', city: 'Ville-Test' },
  phone: '+33 1', email: 'contact@ville-exemple.fr', publicationDirector: 'Le maire', dpo: { name: 'DPO', email: 'dpo@ville-exemple.fr' },
  hosts: [{ name: 'serveur-1', owner: 'Commune', site: 'Mairie <salle B>', services: ['proxy'] }],
};
const files: ReverseProxyProps['tls'] = { mode: 'files', directory: '/etc/socle/tls' };
const nginxConf = (json: any) => fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/nginx.conf') as string;

describe('ReverseProxy', () => {
  it('publishes 80 and 443 on the bind address with one virtual host per route', () => {
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice, bindAddress: '10.0.0.5', httpsPort: 8443 });
      p.addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' });
      p.addRoute({ service: 'b', hostname: 'b.ville-exemple.fr', upstream: 'b-web:8080', onionPort: 8082 });
    });
    expectResourceWith(json, Container, { name: 'ville-exemple-proxy-nginx', ports: [{ internal: 80, external: 80, ip: '10.0.0.5', protocol: 'tcp' }, { internal: 443, external: 8443, ip: '10.0.0.5', protocol: 'tcp' }] });
    const conf = nginxConf(json);
    expect(conf).toContain('server_name a.ville-exemple.fr;');
    expect(conf).toContain('set $socle_upstream http://b-web:8080;');
    expect(conf).toContain('listen 8082;');
    // Plain HTTP redirects the city's names, each to itself; any other Host gets nothing.
    expect(conf).toContain('return 301 https://a.ville-exemple.fr$request_uri;');
    expect(conf).toContain('return 301 https://b.ville-exemple.fr$request_uri;');
    expect(conf).not.toContain('return 301 https://$host');
    expect(conf).toMatch(/listen 80 default_server;\s+server_name _;\s+return 421;/);
  });

  it('announces the onion address on the clearnet names of onion sites only, from the addresses Tor publishes', () => {
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice, onion: true });
      p.addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' });
      p.addRoute({ service: 'b', hostname: 'b.ville-exemple.fr', upstream: 'b-web:8080', onionPort: 8082 });
    });
    const conf = nginxConf(json);
    expect(conf).toContain('include /var/lib/socle/onion-addresses/*.map;');
    const server = (marker: string) => conf.split(/\n  # /).find((block) => block.includes(marker))!;
    expect(server('listen 443 ssl http2;\n    server_name b.ville-exemple.fr;')).toContain('set $socle_site b;\n    add_header Onion-Location $socle_onion_location always;');
    expect(server('server_name a.ville-exemple.fr;')).not.toContain('Onion-Location');
    expect(server('listen 8082;')).not.toContain('Onion-Location');
    const nginx = containerNamed(json, 'ville-exemple-proxy-nginx');
    expect(nginx.command).toEqual(['socle-nginx', '--reload-when-changed', '/var/lib/socle/onion-addresses']);
    expect(nginx.volumes).toContainEqual(expect.objectContaining({ volume_name: expect.stringContaining('volume-onion-addresses'), container_path: '/var/lib/socle/onion-addresses', read_only: true }));
    // Without Tor, nothing of it.
    const clearnetOnly = nginxConf(synthInHost((s) => new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice }).addRoute({ service: 'b', hostname: 'b.ville-exemple.fr', upstream: 'b-web:8080', onionPort: 8082 })));
    expect(clearnetOnly).not.toContain('onion');
  });

  it('logs no query string and no code in a path, and refuses a route\'s internal paths', () => {
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice });
      p.addRoute({ service: 'enquetes', hostname: 'e.ville-exemple.fr', upstream: 'e-web:8080', internalPaths: ['/index.php/admin/remotecontrol'] });
    });
    const conf = nginxConf(json);
    expect(conf).toMatch(/log_format socle '\$remote_addr \[\$time_iso8601\] "\$host" "\$request_method \$socle_logged_uri" /);
    expect(conf).not.toMatch(/log_format[^;]*\$request[ "]/);
    expect(conf).not.toMatch(/log_format[^;]*\$(args|query_string|request_uri)/);
    expect(conf).toContain("'~^(?<before>.*/token/)[^/]+(?<after>.*)$' $before-$after;");
    expect(conf).toContain('location ^~ /index.php/admin/remotecontrol { return 404; }');
  });

  it('logs only the start of the address on sites that say so, and the legal notice says which', () => {
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice, onion: true });
      p.addRoute({ service: 'site', hostname: 'www.ville-exemple.fr', upstream: 'w-web:3000' });
      p.addRoute({ service: 'enquetes', hostname: 'e.ville-exemple.fr', upstream: 'e-web:8080', onionPort: 8082, loggedAddress: 'masked' });
    });
    const conf = nginxConf(json);
    const server = (marker: string) => conf.split(/\n  # /).find((block) => block.includes(marker))!;
    const masked = 'access_log /var/log/nginx/access-$socle_log_day.log socle_masked;';
    expect(server('listen 443 ssl http2;\n    server_name e.ville-exemple.fr;')).toContain(masked);
    expect(server('listen 8082;')).toContain(masked);
    expect(server('server_name www.ville-exemple.fr;')).not.toContain('socle_masked');
    expect(conf).toMatch(/log_format socle_masked '\$socle_masked_addr \[/);
    expect(conf).toContain("'~^(?<net>\\d+\\.\\d+)\\.\\d+\\.\\d+$' $net.0.0;");
    const legal = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/mentions-legales.html') as string;
    expect(legal).toContain('Pour e.ville-exemple.fr, les journaux ne gardent que le début de l’adresse IP (deux octets)');
    expect(legal).not.toContain('Pour www.ville-exemple.fr');
  });

  it('serves security.txt with the city\'s contact, and caps the access logs by size as well as age', () => {
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice, securityContact: 'mailto:securite@ville-exemple.fr', accessLogRetentionDays: 30, accessLogMaxMiB: 64 });
      p.addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' });
    });
    const txt = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/security.txt');
    expect(txt).toMatch(/^Contact: mailto:securite@ville-exemple\.fr\nExpires: \d{4}-12-31T23:59:59\.000Z\nPreferred-Languages: fr, en\n$/);
    expect(nginxConf(json)).toMatch(/location = \/\.well-known\/security\.txt \{[^}]*alias \/etc\/socle\/security\.txt;/);
    const retention = containerNamed(json, 'ville-exemple-proxy-log-retention');
    expect(retention.command.join(' ')).toContain('-mtime +29 -delete');
    expect(retention.command.join(' ')).toContain('-gt 64 ]');
  });

  it('serves the Art. 30 register beside the legal notice, with each declared processing and the stores of its services, and links to it', () => {
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', {
        tls: files, legalNotice: notice,
        register: () => ({
          entries: Platform.of(s).processing.map((activity) => ({
            activity, stores: [{ volume: 'ville-exemple-proxy-logs', host: 'serveur-1', site: 'Mairie <salle B>', retention: '90 jours', enforcedBy: 'le conteneur proxy-log-retention', backedUp: false }],
          })),
          backups: [{ name: 'nas', host: 'nas.ville-exemple.fr' }],
          externalParties: [],
        }),
      });
      p.addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' });
    });
    const register = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), REGISTER_FILE);
    expect(register).toContain('<h1>Registre des activités de traitement</h1>');
    expect(register).toContain('<h2 id="traitement-1">1. Journaux de connexion</h2>');
    expect(register).toContain('<tr data-volume="ville-exemple-proxy-logs"><td><code>ville-exemple-proxy-logs</code></td><td>serveur-1</td><td>Mairie &lt;salle B&gt;</td><td>90 jours</td>');
    expect(register).toContain('<li>nas : nas.ville-exemple.fr, lieu non déclaré</li>');
    expect(register).toContain('Aucun : aucune donnée n’est transmise hors de l’Union européenne');
    expect(nginxConf(json)).toMatch(new RegExp(`location = ${REGISTER_PATH} \\{[^}]*alias ${REGISTER_FILE};`));
    expect(fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/mentions-legales.html')).toContain(`<a href="${REGISTER_PATH}">registre des activités de traitement</a>`);
    // Without a register, nothing is served and nothing links to it.
    const bare = synthInHost((s) => new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice }).addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' }));
    expect(nginxConf(bare)).not.toContain(REGISTER_PATH);
    expect(fileOf(containerNamed(bare, 'ville-exemple-proxy-nginx'), '/etc/socle/mentions-legales.html')).not.toContain(REGISTER_PATH);
  });

  it('serves on every site the cookies each app declares and the audience opt-out\'s, and links to it from the legal notice', () => {
    const session = { lifetime: 'session', setWhen: 'à l’ouverture', noConsentBecause: 'strictement nécessaire' };
    const optOutCookie = { name: 'mtm_consent_removed', purpose: 'retenir un refus', lifetime: '395 jours (13 mois)', setWhen: 'au refus', noConsentBecause: 'il enregistre votre refus' };
    const json = synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice });
      p.addRoute({ service: 'enquetes', hostname: 'enquetes.ville-exemple.fr', upstream: 'ls-web:8080', cookies: [{ name: 'PHPSESSID', purpose: 'garder <vos> réponses', ...session }] });
      p.addRoute({ service: 'stats', hostname: 'stats.ville-exemple.fr', upstream: 'matomo-web:8080', cookies: [{ name: 'MATOMO_SESSID', purpose: 'session des agents', ...session }] });
      p.measureAudience({ upstream: 'matomo-web:8080', trackerScript: '', optOutScript: '', logImport: false, privacy: matomoPrivacy(90), optOutCookie });
    });
    const page = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), COOKIES_NOTICE_FILE) as string;
    const rows = listedCookies(page).map((l) => `${l.hostname} ${l.name}`);
    // Matomo's own interface is not measured: no opt-out there.
    expect(rows).toEqual(['enquetes.ville-exemple.fr PHPSESSID', 'enquetes.ville-exemple.fr mtm_consent_removed', 'stats.ville-exemple.fr MATOMO_SESSID']);
    expect(page).toContain('<td>garder &lt;vos&gt; réponses</td><td>session : effacé à la fermeture du navigateur</td>');
    expect(page).toContain('<td>395 jours (13 mois)</td>');
    expect(page).toContain('ne dépose aucun cookie');
    expect(nginxConf(json)).toMatch(new RegExp(`location = ${COOKIES_NOTICE_PATH} \\{[^}]*alias ${COOKIES_NOTICE_FILE};`));
    expect(fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/mentions-legales.html')).toContain(`<a href="${COOKIES_NOTICE_PATH}">cookies et traceurs</a>`);
    // A city without cookies and without measurement says so.
    const bare = synthInHost((s) => new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice }).addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' }));
    expect(fileOf(containerNamed(bare, 'ville-exemple-proxy-nginx'), COOKIES_NOTICE_FILE)).toContain('<p>Aucun site de la commune ne dépose de cookie.</p>');
  });

  it('escapes the legal notice', () => {
    const json = synthInHost((s) => new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice }));
    const html = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/mentions-legales.html');
    expect(html).toContain('Mairie &lt;salle B&gt;');
  });

  it('adds an ACME client and certificate volumes in acme mode, without a host mount', () => {
    const json = synthInHost((s) => {
      new ReverseProxy(s, 'proxy', { tls: { mode: 'acme', directoryUrl: 'https://acme.ville-exemple.fr/directory', email: 'it@ville-exemple.fr' }, legalNotice: notice })
        .addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a-web:3000' });
    });
    const acme = containerNamed(json, 'ville-exemple-proxy-acme');
    expect(acme.command).toEqual(expect.arrayContaining(['https://acme.ville-exemple.fr/directory', 'a.ville-exemple.fr']));
    expect(resources(json, 'docker_volume').map((v) => v.name)).toEqual(expect.arrayContaining(['ville-exemple-acme-certificates', 'ville-exemple-acme-webroot']));
    expectNoResourceWith(json, Container, { name: 'ville-exemple-proxy-nginx', mounts: [{ type: 'bind' }] });
  });

  it('fails when two routes share a hostname', () => {
    expect(() => synthInHost((s) => {
      const p = new ReverseProxy(s, 'proxy', { tls: files, legalNotice: notice });
      p.addRoute({ service: 'a', hostname: 'a.ville-exemple.fr', upstream: 'a:1' });
      p.addRoute({ service: 'b', hostname: 'a.ville-exemple.fr', upstream: 'b:1' });
    })).toThrow(/already routes a\.ville-exemple\.fr/);
  });
});
