import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileOf, ROOT, containerNamed, labelsOf, resources, synthToDisk, exampleCity, writeCity, tempDir } from './helpers.js';
import { LABEL } from '../stacks/host-stack.js';
import { ConfigError, loadCities } from '../stacks/config/load.js';
import { BACKUP_PLAN_PATH } from '../services/backup/plan.js';

describe('a city over several hosts (front, apps, backup storage)', () => {
  const { stacks } = synthToDisk(join(ROOT, 'examples/ville-exemple-multisite.yaml'));
  const byName = Object.fromEntries(stacks.map((s) => [s.name, s.json]));

  it('synthesizes one stack per host, each with its own Docker provider', () => {
    expect(Object.keys(byName)).toEqual(['ville-exemple-applications', 'ville-exemple-frontal', 'ville-exemple-sauvegardes']);
    expect(byName['ville-exemple-frontal'].provider.docker[0].host).toBe('ssh://socle@10.20.0.10:22');
    expect(byName['ville-exemple-sauvegardes'].provider.docker[0].host).toBe('ssh://socle@10.30.0.20:2022');
  });

  it('places each service on its host', () => {
    const services = (json: any) => [...new Set(resources(json, 'docker_container').map((c) => labelsOf(c)[LABEL.service]))].sort();
    // Every host with a backup runner mails its alerts through a mail gateway of its own.
    expect(services(byName['ville-exemple-frontal'])).toEqual(['backup', 'mail', 'onion', 'proxy']);
    expect(services(byName['ville-exemple-applications'])).toEqual(['backup', 'consultation', 'limesurvey', 'mail', 'matomo']);
    expect(services(byName['ville-exemple-sauvegardes'])).toEqual(['backup', 'backup-store', 'mail']);
  });

  it('reaches apps on another host through their private address only', () => {
    const apps = byName['ville-exemple-applications'];
    expect(containerNamed(apps, 'ville-exemple-limesurvey-app').ports).toEqual([{ internal: 8080, external: 8082, ip: '10.20.1.11', protocol: 'tcp' }]);
    const conf = fileOf(containerNamed(byName['ville-exemple-frontal'], 'ville-exemple-proxy-nginx'), '/etc/socle/nginx.conf');
    expect(conf).toContain('set $socle_upstream http://10.20.1.11:8082;');
    expect(conf).toContain('set $socle_upstream http://10.20.1.11:8081;');
  });

  it('runs the SFTP backup store on the storage host and backs every host up to it', () => {
    const store = containerNamed(byName['ville-exemple-sauvegardes'], 'ville-exemple-backup-store-sftp');
    expect(store.ports).toEqual([{ internal: 2222, external: 2222, ip: '10.30.0.20', protocol: 'tcp' }]);
    const runner = containerNamed(byName['ville-exemple-applications'], 'ville-exemple-backup-restic');
    expect(JSON.parse(fileOf(runner, BACKUP_PLAN_PATH)).targets).toEqual([
      { name: 'nas-mairie', url: 'sftp://restic@nas.ville-exemple.fr:22//srv/restic/ville-exemple' },
      { name: 'store', url: 'sftp://restic@10.30.0.20:2222//srv/restic/ville-exemple' },
    ]);
    // The storage host's own runner reaches the store over the store's network, never through the
    // host's address (the host firewall drops containers -> host), and declares no flow out for it.
    const local = containerNamed(byName['ville-exemple-sauvegardes'], 'ville-exemple-backup-restic');
    expect(JSON.parse(fileOf(local, BACKUP_PLAN_PATH)).targets).toContainEqual({ name: 'store', url: 'sftp://restic@backup-store:2222//srv/restic/ville-exemple' });
    const storeNetwork = store.networks_advanced.map((n: any) => n.name);
    expect(local.networks_advanced.map((n: any) => n.name)).toEqual(expect.arrayContaining(storeNetwork));
    expect(store.networks_advanced[0].aliases).toEqual(['backup-store']);
  });

  it('fails when an app upstream port collides with another published port of its host', () => {
    const c = exampleCity();
    c.hosts.push({ name: 'apps', ssh: { user: 'socle', address: '10.20.0.11' }, site: 'Annexe', owner: 'Commune' });
    Object.assign(c.services.limesurvey, { host: 'apps', upstreamPort: 8081 });
    Object.assign(c.services.consultation, { host: 'apps' });
    for (const s of ['proxy', 'matomo', 'onion']) c.services[s].host = 'serveur-1';
    try {
      loadCities(writeCity(c));
      expect.fail('accepted');
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.path)).toContain('services.limesurvey.upstreamPort');
    }
  });
});

describe('several communes from one repository', () => {
  const { stacks } = synthToDisk(join(ROOT, 'examples/intercommunalite'));

  it('synthesizes a stack per commune and host', () => {
    expect(stacks.map((s) => s.name)).toEqual(['bourg-exemple-serveur-1', 'hameau-exemple-serveur-1']);
    // Both communes share the same machine.
    expect(new Set(stacks.map((s) => s.json.provider.docker[0].host))).toEqual(new Set(['ssh://socle@10.50.0.10:22']));
  });

  it('never gives two communes on one host the same container, network or volume name', () => {
    for (const type of ['docker_container', 'docker_network', 'docker_volume']) {
      const names = stacks.flatMap((s) => resources(s.json, type).map((r) => r.name));
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names).size, type).toBe(names.length);
      for (const s of stacks) for (const r of resources(s.json, type)) expect(r.name.startsWith(`${s.name.replace(/-serveur-1$/, '')}-`)).toBe(true);
    }
  });

  it('binds each commune\'s proxy to its own address', () => {
    const binds = stacks.map((s) => containerNamed(s.json, `${s.name.replace(/-serveur-1$/, '')}-proxy-nginx`).ports.map((p: any) => `${p.ip}:${p.external}`));
    expect(binds).toEqual([['10.50.0.11:80', '10.50.0.11:443'], ['10.50.0.12:80', '10.50.0.12:443']]);
  });

  it('scales to a directory of many communes with distinct names', () => {
    const dir = tempDir();
    for (let i = 1; i <= 5; i++) {
      const c = exampleCity();
      c.commune.slug = `commune-${i}`;
      c.services.proxy.bindAddress = `10.20.0.${100 + i}`;
      writeCity(c, `commune-${i}.yaml`, dir);
    }
    const many = synthToDisk(dir).stacks;
    expect(many.map((s) => s.name)).toEqual([1, 2, 3, 4, 5].map((i) => `commune-${i}-serveur-1`));
    const volumes = many.flatMap((s) => resources(s.json, 'docker_volume').map((v) => v.name));
    expect(new Set(volumes).size).toBe(volumes.length);
  });
});
