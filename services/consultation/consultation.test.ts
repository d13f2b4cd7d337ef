import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Consultation, type ConsultationProps } from './index.js';
import {
  DECIDIM_APP_DIR, DECIDIM_ENV_CONTRACT, DECIDIM_SCHEDULE, DECIDIM_SMTP_INITIALIZER, DECIDIM_SOCLE_INITIALIZERS, PRESETS, SOCLE_ENV_CONTRACT,
} from './presets.js';
import { MailGateway } from '../mail-gateway/index.js';
import { IMAGE_CATALOG } from '../common/images.js';
import { citySchema } from '../../stacks/config/load.js';
import type { HostStack } from '../../stacks/host-stack.js';
import { containerNamed, resources, synthInHost } from '../../tests/helpers.js';
import { LABEL } from '../../core/labels.js';

function props(s: HostStack, extra: Partial<ConsultationProps> = {}, security: 'starttls' | 'tls' = 'starttls'): ConsultationProps {
  const smtp = new MailGateway(s, 'mail', {
    hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', port: security === 'tls' ? 465 : 587, security,
    user: 'u@ville-exemple.fr', from: 'ne-pas-repondre@ville-exemple.fr', password: s.secretVariable('smtp_password', 'x'),
  }).smtp;
  return { hostname: 'participer.ville-exemple.fr', smtp, exposure: { kind: 'network', network: s.network(s, { name: 'frontend', tier: 'frontend' }) }, ...extra };
}

const NAME = (role: string) => `ville-exemple-consultation-${role}`;
const envOf = (container: any): Record<string, string> => Object.fromEntries((container.env as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
const script = (container: any): string => {
  expect(container.command.slice(0, 2)).toEqual(['sh', '-c']);
  return container.command[2];
};
/** Every line of `text` holding `needle`, in order: the order of the start steps. */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle));
// A reference Terraform resolves at apply time: a generated secret or a sensitive variable.
const REFERENCE = /\$\{(random_password\.[\w-]+\.result|var\.[\w-]+)\}/;

describe('Consultation (Decidim preset)', () => {
  const json = synthInHost((s) => new Consultation(s, 'consultation', props(s)));
  const web = containerNamed(json, NAME('web'));
  const worker = containerNamed(json, NAME('worker'));
  const scheduler = containerNamed(json, NAME('scheduler'));
  const webEnv = envOf(web);

  it('renders exactly the variables of the contract, each of them, nothing Decidim does not read', () => {
    const declared = [...Object.keys(DECIDIM_ENV_CONTRACT), ...Object.keys(SOCLE_ENV_CONTRACT)].sort();
    expect(Object.keys(webEnv).sort()).toEqual(declared);
    // The preset's own table has one entry per variable it sets (the construct adds the SOCLE_ ones).
    expect(Object.keys(PRESETS.decidim.env).sort()).toEqual([...Object.keys(DECIDIM_ENV_CONTRACT), 'SOCLE_SMTP_TLS'].sort());
    for (const [name, reader] of Object.entries({ ...DECIDIM_ENV_CONTRACT, ...SOCLE_ENV_CONTRACT })) expect(reader.length, name).toBeGreaterThan(10);
    // The names of the old, wrong contract are gone.
    for (const gone of ['SMTP_TLS', 'DECIDIM_TRACKING', 'DECIDIM_ENABLE_ETHERPAD', 'RAILS_SERVE_STATIC_FILES']) expect(webEnv).not.toHaveProperty(gone);
  });

  it('queues jobs in Redis for the Sidekiq worker, and points everything at the stack', () => {
    expect(webEnv).toMatchObject({
      RAILS_ENV: 'production', QUEUE_ADAPTER: 'sidekiq',
      SMTP_ADDRESS: 'zimbra.ville-exemple.fr', SMTP_PORT: '587', SMTP_USERNAME: 'u@ville-exemple.fr', SMTP_DOMAIN: 'ville-exemple.fr',
      SMTP_AUTHENTICATION: 'plain', SMTP_STARTTLS_AUTO: 'true', SOCLE_SMTP_TLS: 'false',
      DECIDIM_MAILER_SENDER: 'ne-pas-repondre@ville-exemple.fr', DECIDIM_FORCE_SSL: 'false', MAPS_PROVIDER: '',
      SOCLE_HOSTNAME: 'participer.ville-exemple.fr', SOCLE_SYSTEM_ADMIN_EMAIL: 'ne-pas-repondre@ville-exemple.fr',
    });
    expect(webEnv.DATABASE_URL).toMatch(/^postgres:\/\/consultation:\$\{random_password\.[\w-]+\.result\}@consultation-db:5432\/consultation$/);
    expect(webEnv.REDIS_URL).toMatch(/^redis:\/\/:\$\{random_password\.[\w-]+\.result\}@consultation-redis:6379\/0$/);
    expect(resources(json, 'docker_network').find((n) => n.name === 'ville-exemple-consultation-data').internal).toBe(true);
  });

  it('keeps every secret a reference, and the system admin password in the web container only', () => {
    for (const name of ['SECRET_KEY_BASE', 'SMTP_PASSWORD', 'SOCLE_SYSTEM_ADMIN_PASSWORD']) expect(webEnv[name], name).toMatch(new RegExp(`^${REFERENCE.source}$`));
    expect(webEnv.SECRET_KEY_BASE).not.toBe(webEnv.SOCLE_SYSTEM_ADMIN_PASSWORD);
    for (const c of [worker, scheduler]) {
      expect(envOf(c)).toEqual(Object.fromEntries(Object.entries(webEnv).filter(([k]) => !k.startsWith('SOCLE_SYSTEM_ADMIN_'))));
    }
    // No command line carries a secret, nor anything Terraform would read as an interpolation.
    for (const c of [web, worker, scheduler]) expect(c.command.join('\n'), c.name).not.toMatch(/\$\{|%\{/);
  });

  it('mounts uploads and scratch space under /code, where the image has the app', () => {
    for (const c of [web, worker, scheduler]) {
      expect(c.volumes.map((v: any) => v.container_path), c.name).toEqual([`${DECIDIM_APP_DIR}/storage`]);
      expect(Object.keys(c.tmpfs).sort(), c.name).toEqual([`${DECIDIM_APP_DIR}/config/initializers/socle`, `${DECIDIM_APP_DIR}/tmp`, '/tmp']);
      expect(JSON.stringify(c), c.name).not.toContain('/app/');
    }
    expect(resources(json, 'docker_volume').map((v) => v.name)).toContain('ville-exemple-consultation-uploads');
    expect(web.image).toContain('image-decidim');
  });

  it("runs as the image's own user (root: the upstream image has no other), every capability dropped, on a read-only root", () => {
    for (const c of [web, worker, scheduler]) {
      expect(c.user, c.name).toBeUndefined();
      expect(c, c.name).toMatchObject({ read_only: true, capabilities: { drop: ['ALL'] }, security_opts: ['no-new-privileges:true'] });
    }
  });

  it('starts the web container in order: SMTP initializer, migrations, data migrations, first system admin, server', () => {
    const start = script(web);
    const steps = [`cat > ${DECIDIM_SOCLE_INITIALIZERS}/smtp.rb`, 'bin/rails db:migrate', 'bin/rails data:migrate', 'bin/rails runner', 'exec bin/rails server -b 0.0.0.0 -p 3000'];
    const at = steps.map((s) => lineOf(start, s));
    expect(at.every((i) => i >= 0), start).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(start.split('\n')[0]).toBe('set -e');
    // The system admin is created from the environment, only while none exists.
    expect(start).toContain('if Decidim::System::Admin.exists?');
    expect(start).toContain('Decidim::System::Admin.create!(email: email, password: password, password_confirmation: password)');
    expect(start).toContain('ENV.fetch("SOCLE_SYSTEM_ADMIN_PASSWORD")');
    expect(web.healthcheck.start_period).toBe('10m0s');
  });

  it('checks the SMTP relay certificate and refuses a clear-text fallback, in every process that sends mail', () => {
    expect(DECIDIM_SMTP_INITIALIZER).toContain('openssl_verify_mode: "peer"');
    expect(DECIDIM_SMTP_INITIALIZER).not.toContain('"none"');
    expect(DECIDIM_SMTP_INITIALIZER).toContain('enable_starttls: tls ? false : :always');
    for (const c of [web, worker, scheduler]) expect(script(c), c.name).toContain(`<<'RUBY'\n${DECIDIM_SMTP_INITIALIZER}RUBY\n`);
  });

  it('runs Sidekiq in the worker, with a healthcheck on its process', () => {
    expect(script(worker).split('\n').at(-1)).toBe('exec bundle exec sidekiq');
    expect(worker.healthcheck.test).toEqual(['CMD-SHELL', "grep -qsa '[s]idekiq' /proc/[0-9]*/cmdline"]);
  });

  it("schedules every one of Decidim's periodic tasks, the personal-data clean-ups among them", () => {
    const loop = script(scheduler);
    const body = loop.slice(loop.indexOf('while true; do'));
    const daily = body.indexOf('if [ "$today" != "$day" ]');
    const saturday = body.indexOf('if [ "$(date -u +%u)" = 6 ]');
    for (const t of DECIDIM_SCHEDULE) {
      const at = body.indexOf(`run ${t.task}\n`);
      expect(at, t.task).toBeGreaterThan(0);
      expect(body.indexOf(`run ${t.task}\n`, at + 1), `${t.task} once`).toBe(-1);
      if (t.every === 'quarter') expect(at, t.task).toBeLessThan(daily);
      if (t.every === 'day') expect(at > daily && at < saturday, t.task).toBe(true);
      if (t.every === 'saturday') expect(at, t.task).toBeGreaterThan(saturday);
    }
    expect(DECIDIM_SCHEDULE.filter((t) => t.deletes).map((t) => t.task).sort()).toEqual(['decidim:delete_download_your_data_files', 'decidim:participants:delete_inactive_participants']);
    // Removed with the Metrics feature in 0.31.
    expect(loop).not.toContain('decidim:metrics:all');
    expect(body).toContain('sleep 900');
    expect(scheduler.healthcheck.test).toEqual(['CMD-SHELL', "grep -qsa '[s]ocle-decidim-scheduler' /proc/[0-9]*/cmdline"]);
    expect(loop).toContain('socle-decidim-scheduler');
  });

  it('names, on each store of personal data, what deletes it: the clean-ups the scheduler runs, each of them', () => {
    const labels = (volume: string) => Object.fromEntries(resources(json, 'docker_volume').find((v) => v.name === volume)!.labels.map((l: any) => [l.label, l.value]));
    const body = script(scheduler);
    for (const store of ['ville-exemple-consultation-uploads', 'ville-exemple-consultation-postgres']) {
      const enforcedBy = labels(store)[LABEL.retentionEnforcedBy];
      for (const t of DECIDIM_SCHEDULE.filter((task) => task.deletes)) {
        expect(enforcedBy, store).toContain(`${t.task} (${t.deletes})`);
        expect(body).toContain(`run ${t.task}\n`);
      }
      expect(labels(store)[LABEL.retention], store).toMatch(/jours/);
    }
  });

  it('renders start scripts a POSIX shell accepts', () => {
    for (const c of [web, worker, scheduler]) execFileSync('sh', ['-n', '-c', script(c)]);
  });

  it('speaks SMTPS to a relay on implicit TLS, STARTTLS off', () => {
    const tls = envOf(containerNamed(synthInHost((s) => new Consultation(s, 'consultation', props(s, {}, 'tls'))), NAME('worker')));
    expect(tls).toMatchObject({ SMTP_PORT: '465', SMTP_STARTTLS_AUTO: 'false', SOCLE_SMTP_TLS: 'true' });
  });

  it('plugs an image the city packaged on the same conventions, with its own port and environment', () => {
    const city = synthInHost((s) => new Consultation(s, 'consultation', props(s, { image: 'decidim-ville', port: 3001, env: { DECIDIM_DEFAULT_LOCALE: 'fr', EXTRA: '{{hostname}}' } })));
    const cityWeb = containerNamed(city, NAME('web'));
    expect(cityWeb.env).toEqual(expect.arrayContaining(['DECIDIM_DEFAULT_LOCALE=fr', 'EXTRA=participer.ville-exemple.fr']));
    expect(resources(city, 'docker_image').map((i) => i.name)).toContain('registre.ville-exemple.fr/socle/decidim-ville:latest');
    expect(script(cityWeb)).toContain('exec bin/rails server -b 0.0.0.0 -p 3001');
    expect(cityWeb.healthcheck.test[1]).toContain('http://127.0.0.1:3001/');
  });

  it('fails on an unknown placeholder in the env mapping', () => {
    expect(() => synthInHost((s) => new Consultation(s, 'consultation', props(s, { env: { X: '{{database.pasword}}' } })))).toThrow(/services\.consultation\.env\.X: no value for database\.pasword/);
  });
});

describe('the consultation images', () => {
  it('pins one Decidim release, by its full version, on GHCR', () => {
    expect(IMAGE_CATALOG.decidim).toMatchObject({ origin: 'mirrored', tag: '0.32.1', upstream: 'ghcr.io/decidim/decidim:0.32.1' });
  });

  it('offers no CONSUL Democracy preset: upstream publishes no production image', () => {
    expect(Object.keys(PRESETS)).toEqual(['decidim']);
    expect(IMAGE_CATALOG).not.toHaveProperty('consul');
    const schema: any = citySchema;
    const consultation = schema.properties.services.properties.consultation.properties;
    expect(consultation.preset.enum).toEqual(['decidim']);
    expect(schema.properties.images.properties).not.toHaveProperty('consul');
  });
});

describe('services/consultation/README.md', () => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  it('documents every variable, scheduled task and path of the contract', () => {
    for (const name of [...Object.keys(DECIDIM_ENV_CONTRACT), ...Object.keys(SOCLE_ENV_CONTRACT)]) expect(readme, name).toContain(`\`${name}\``);
    for (const t of DECIDIM_SCHEDULE) expect(readme, t.task).toContain(`\`${t.task}\``);
    for (const path of [...PRESETS.decidim.dataPaths, ...Object.keys(PRESETS.decidim.scratch)]) expect(readme, path).toContain(`\`${path}\``);
    expect(readme).toContain(IMAGE_CATALOG.decidim.tag);
    expect(readme).toMatch(/cannot run here/i);
  });
});
