import { describe, expect, it } from 'vitest';
import { Matomo } from './index.js';
import { CODE_PARAMETERS, evaluateMatomoPrivacy, matomoPrivacy, type MatomoReadBack } from './privacy.js';
import { MailGateway } from '../mail-gateway/index.js';
import type { HostStack } from '../../stacks/host-stack.js';
import { containerNamed, fileOf, resources, synthInHost } from '../../tests/helpers.js';

function matomo(s: HostStack, extra: Partial<ConstructorParameters<typeof Matomo>[2]> = {}) {
  return new Matomo(s, 'matomo', {
    hostname: 'statistiques.ville-exemple.fr', archiveIntervalMinutes: 30, communeName: 'Ville-Exemple',
    measuredHostnames: ['enquetes.ville-exemple.fr', 'participer.ville-exemple.fr'],
    smtp: new MailGateway(s, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', user: 'u', from: 'n@ville-exemple.fr', password: 'x' }).smtp,
    exposure: { kind: 'network', network: s.network(s, { name: 'frontend', tier: 'frontend' }) },
    ...extra,
  });
}

/** What a Matomo set up by Socle reports (`socle-matomo check`), for the evaluation's tests. */
function goodReadBack(): MatomoReadBack {
  return {
    version: '5.0.2', superUsers: 1,
    ipAnonymization: { enabled: true, maskLength: 2, forEnrichment: true }, userIdPseudonymized: true,
    rawDataDeletion: { enabled: true, olderThanDays: 180 }, doNotTrack: true,
    excludedQueryParameters: [...CODE_PARAMETERS], activatedPlugins: ['CoreHome', 'PrivacyManager'],
    internetFeatures: false, browserArchiving: false, fingerprintingAcrossSites: false, thirdPartyCookie: false, sites: [],
  };
}

describe('Matomo', () => {
  it('renders its configuration with no phone-home, no forbidden plugin and no secret', () => {
    const json = synthInHost((s) => matomo(s));
    const app = containerNamed(json, 'ville-exemple-matomo-app');
    expect(app.env.some((e: string) => e.startsWith('MATOMO_GENERAL_'))).toBe(false);
    const ini = fileOf(app, '/etc/socle/matomo/config.ini.php');
    for (const line of ['enable_internet_features = 0', 'enable_update_communication = 0', 'enable_auto_update = 0', 'enable_browser_archiving_triggering = 0', 'force_ssl = 1',
      'trusted_hosts[] = "statistiques.ville-exemple.fr"', 'trusted_hosts[] = "enquetes.ville-exemple.fr"', 'password = ""', 'host = "zimbra.ville-exemple.fr"', 'Plugins[] = "PrivacyManager"']) {
      expect(ini).toContain(line);
    }
    for (const plugin of ['Marketplace', 'ProfessionalServices', 'Feedback', 'RssWidget', 'UserId', 'SEO']) expect(ini).not.toContain(`Plugins[] = "${plugin}"`);
    expect(ini).not.toMatch(/random_password|salt =/);
    expect(app.env).toEqual(expect.arrayContaining([expect.stringMatching(/^MATOMO_SALT=\$\{random_id\./), expect.stringMatching(/^DB_PASSWORD=\$\{random_password\./)]));
    expect(app.user).toBe('www-data');
    expect(app.read_only).toBe(true);
    expect(app.labels.find((l: any) => l.label === 'fr.socle.upgrade-gate')?.value).toBe('socle-matomo authorize-upgrade');
  });

  it('applies the retention the city file names, and labels the database volume with the same value', () => {
    const json = synthInHost((s) => matomo(s, { rawDataRetentionDays: 90 }));
    const settings = JSON.parse(fileOf(containerNamed(json, 'ville-exemple-matomo-app'), '/etc/socle/matomo/settings.json'));
    expect(settings.privacy).toEqual({ ipMaskBytes: 2, rawDataRetentionDays: 90, doNotTrack: true, excludedQueryParameters: [...CODE_PARAMETERS] });
    expect(settings.sites.map((x: any) => [x.id, x.urls])).toEqual([[1, ['https://enquetes.ville-exemple.fr', 'https://participer.ville-exemple.fr']], [2, ['https://enquetes.ville-exemple.fr', 'https://participer.ville-exemple.fr']]]);
    const volume = resources(json, 'docker_volume').find((v) => v.name === 'ville-exemple-matomo-mariadb');
    expect(volume.labels.find((l: any) => l.label === 'fr.socle.retention').value).toBe('données brutes des visites 90 jours (Matomo supprime chaque jour les plus anciennes), rapports agrégés conservés');
  });

  it('refuses a retention beyond the CNIL\'s 25 months, saying which field to change', () => {
    expect(() => synthInHost((s) => matomo(s, { rawDataRetentionDays: 800 }))).toThrow(/from 1 to 760.*services\.matomo\.rawDataRetentionDays/);
  });

  it('runs the archiver on the data network and the mail network only (scheduled reports), reading the proxy\'s logs read-only when it has them', () => {
    const json = synthInHost((s) => matomo(s, { proxyLogs: s.volume(s, { name: 'proxy-logs', service: 'proxy', category: 'personal', retention: '90 days' }) }));
    const archiver = containerNamed(json, 'ville-exemple-matomo-archiver');
    expect(archiver.command).toEqual(['scheduler']);
    expect(archiver.env).toContain('SOCLE_ARCHIVE_INTERVAL_SECONDS=1800');
    expect(archiver.networks_advanced.map((n: any) => n.name)).toEqual(['${docker_network.network-matomo-data.name}', '${docker_network.network-mail.name}']);
    // The console names the public host in the Message-ID of the reports it mails.
    expect(archiver.env).toContain('SOCLE_PUBLIC_HOST=statistiques.ville-exemple.fr');
    expect(archiver.volumes).toEqual([expect.objectContaining({ volume_name: expect.stringContaining('proxy-logs'), container_path: '/var/log/socle-proxy', read_only: true })]);
    expect(containerNamed(synthInHost((s) => matomo(s)), 'ville-exemple-matomo-archiver').volumes ?? []).toEqual([]);
  });

  it('gives the proxy a cookieless tracker that strips codes before sending a page address', () => {
    let script = '';
    synthInHost((s) => { script = matomo(s).audience.trackerScript; });
    expect(script).toContain("_paq.push(['disableCookies'])");
    expect(script).toContain("'/socle-audience/matomo.php'");
    expect(script).toContain(JSON.stringify(CODE_PARAMETERS));
    expect(script).not.toMatch(/https?:\/\//);
  });
});

describe('evaluateMatomoPrivacy', () => {
  const expected = matomoPrivacy(180);
  it('passes every condition on Matomo as Socle sets it up', () => {
    const findings = evaluateMatomoPrivacy(goodReadBack(), expected, "_paq.push(['disableCookies']);");
    expect(findings.filter((f) => !f.ok)).toEqual([]);
    expect(findings.map((f) => f.id)).toEqual(['MATOMO-INSTALLED', 'MATOMO-IP', 'MATOMO-RETENTION', 'MATOMO-DNT', 'MATOMO-USER-ID', 'MATOMO-CROSS-SITE', 'MATOMO-CODES', 'MATOMO-PHONE-HOME', 'MATOMO-ARCHIVING', 'MATOMO-COOKIES']);
  });
  it.each<[string, (r: any) => void]>([
    ['MATOMO-INSTALLED', (r) => { r.superUsers = 0; }],
    ['MATOMO-IP', (r) => { r.ipAnonymization.maskLength = 1; }],
    ['MATOMO-IP', (r) => { r.ipAnonymization.enabled = false; }],
    ['MATOMO-RETENTION', (r) => { r.rawDataDeletion.olderThanDays = 365; }],
    ['MATOMO-RETENTION', (r) => { r.rawDataDeletion.enabled = false; }],
    ['MATOMO-DNT', (r) => { r.doNotTrack = false; }],
    ['MATOMO-USER-ID', (r) => { r.activatedPlugins.push('UserId'); }],
    ['MATOMO-CROSS-SITE', (r) => { r.fingerprintingAcrossSites = true; }],
    ['MATOMO-CODES', (r) => { r.excludedQueryParameters = ['utm_source']; }],
    ['MATOMO-PHONE-HOME', (r) => { r.internetFeatures = true; }],
    ['MATOMO-PHONE-HOME', (r) => { r.activatedPlugins.push('Marketplace'); }],
    ['MATOMO-ARCHIVING', (r) => { r.browserArchiving = true; }],
  ])('fails %s on a planted violation, with evidence and a fix', (id, plant) => {
    const read = structuredClone(goodReadBack()) as any;
    plant(read);
    const failed = evaluateMatomoPrivacy(read, expected).filter((f) => !f.ok);
    expect(failed.map((f) => f.id)).toEqual([id]);
    expect(failed[0].evidence.length).toBeGreaterThan(0);
    expect(failed[0].fix.length).toBeGreaterThan(0);
  });
  it('fails MATOMO-COOKIES on a tracker that keeps cookies', () => {
    expect(evaluateMatomoPrivacy(goodReadBack(), expected, "_paq.push(['trackPageView']);").find((f) => f.id === 'MATOMO-COOKIES')?.ok).toBe(false);
  });
});
