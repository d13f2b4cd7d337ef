import { describe, expect, it } from 'vitest';
import { Consultation, type ConsultationProps } from './index.js';
import { MailGateway } from '../mail-gateway/index.js';
import type { HostStack } from '../../stacks/host-stack.js';
import { containerNamed, resources, synthInHost } from '../../tests/helpers.js';

function props(s: HostStack, extra: Partial<ConsultationProps> = {}): ConsultationProps {
  const smtp = new MailGateway(s, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', user: 'u@ville-exemple.fr', from: 'ne-pas-repondre@ville-exemple.fr', password: s.secretVariable('smtp_password', 'x') }).smtp;
  return { hostname: 'participer.ville-exemple.fr', smtp, exposure: { kind: 'network', network: s.network(s, { name: 'frontend', tier: 'frontend' }) }, ...extra };
}

describe('Consultation', () => {
  it('runs Decidim web + worker with PostgreSQL and Redis on an internal network', () => {
    const json = synthInHost((s) => new Consultation(s, 'consultation', props(s)));
    const web = containerNamed(json, 'ville-exemple-consultation-web');
    expect(web.image).toContain('image-decidim');
    expect(web.env).toEqual(expect.arrayContaining([
      expect.stringMatching(/^DATABASE_URL=postgres:\/\/consultation:\$\{random_password\.[\w-]+\.result\}@consultation-db:5432\/consultation$/),
      expect.stringMatching(/^REDIS_URL=redis:\/\/:\$\{random_password\.[\w-]+\.result\}@consultation-redis:6379\/0$/),
      'RAILS_ENV=production', 'DECIDIM_TRACKING=false',
    ]));
    expect(containerNamed(json, 'ville-exemple-consultation-worker').command).toEqual(['bundle', 'exec', 'sidekiq']);
    expect(resources(json, 'docker_network').find((n) => n.name === 'ville-exemple-consultation-data').internal).toBe(true);
  });

  it('plugs CONSUL Democracy or a city image with its own environment', () => {
    const json = synthInHost((s) => new Consultation(s, 'consultation', props(s, { preset: 'consul', image: 'consul-ville', port: 3001, env: { SERVER_NAME: '{{hostname}}', EXTRA: 'x' } })));
    const web = containerNamed(json, 'ville-exemple-consultation-web');
    expect(web.env).toEqual(expect.arrayContaining(['SERVER_NAME=participer.ville-exemple.fr', 'EXTRA=x']));
    expect(resources(json, 'docker_image').map((i) => i.name)).toContain('registre.ville-exemple.fr/socle/consul-ville:latest');
    expect(containerNamed(json, 'ville-exemple-consultation-worker').command).toEqual(['bundle', 'exec', 'rake', 'jobs:work']);
    expect(resources(json, 'docker_volume').map((v) => v.name)).toEqual(expect.arrayContaining(['ville-exemple-consultation-uploads', 'ville-exemple-consultation-uploads-2']));
  });

  it('fails on an unknown placeholder in the env mapping', () => {
    expect(() => synthInHost((s) => new Consultation(s, 'consultation', props(s, { env: { X: '{{database.pasword}}' } })))).toThrow(/services\.consultation\.env\.X: no value for database\.pasword/);
  });
});
