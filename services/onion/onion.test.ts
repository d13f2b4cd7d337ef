import { describe, expect, it } from 'vitest';
import { OnionService } from './index.js';
import { fileOf, containerNamed, labelsOf, resources, synthInHost } from '../../tests/helpers.js';

describe('OnionService', () => {
  it('declares one v3 onion service per site with its keys on a backed-up secret volume', () => {
    const json = synthInHost((s) => {
      const addresses = s.volume(s, { name: 'onion-addresses', service: 'proxy', category: 'operational', retention: 'test', backup: false });
      const onion = new OnionService(s, 'onion', { network: s.network(s, { name: 'public', tier: 'egress' }), addresses, extraTorrc: ['DisableNetwork 1'] });
      onion.expose('limesurvey', 8082);
      onion.expose('consultation', 8081);
    });
    const tor = containerNamed(json, 'ville-exemple-onion-tor');
    const torrc = fileOf(tor, '/etc/socle/torrc');
    expect(torrc).toContain('DisableNetwork 1');
    expect(torrc).toContain('HiddenServiceDir /var/lib/tor/onion/limesurvey\nHiddenServiceVersion 3\nHiddenServicePort 80 proxy:8082');
    // Tor writes the public addresses, never the keys, where the proxy reads them.
    expect(tor.command).toEqual(['socle-tor']);
    expect(tor.volumes.map((v: any) => [v.volume_name.replace(/^.*volume-([a-z-]+)[_.].*$/, '$1'), v.container_path, v.read_only])).toEqual([
      ['onion-keys', '/var/lib/tor', false], ['onion-addresses', '/var/lib/socle/onion-addresses', false]]);
    expect(tor.healthcheck.test[1]).toContain('test -s /var/lib/tor/onion/consultation/hostname');
    const keys = resources(json, 'docker_volume').find((v) => v.name === 'ville-exemple-onion-keys');
    expect(labelsOf(keys)).toMatchObject({ 'fr.socle.data-category': 'secret', 'fr.socle.backup': 'true' });
    expect(keys.lifecycle.prevent_destroy).toBe(true);
  });
});
