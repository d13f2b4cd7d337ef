import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { LABEL } from '../stacks/host-stack.js';
import { fileOf, CDKTF, EXAMPLE, ROOT, TSX, containerNamed, labelsOf, resources, run, synthToDisk, tempDir, writeCity, exampleCity } from './helpers.js';
import { expectResourceWith } from './matchers.js';

const { outdir, stacks } = synthToDisk(EXAMPLE);
const [stack] = stacks;
const json = stack.json;
const containers = resources(json, 'docker_container');

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? allFiles(join(dir, f)) : [join(dir, f)]));
}

describe('the example city', () => {
  it('synthesizes one stack for its one host, deployed over SSH', () => {
    expect(stacks.map((s) => s.name)).toEqual(['ville-exemple-serveur-1']);
    expect(json.provider.docker[0].host).toBe('ssh://socle@10.20.0.10:22');
  });

  it('declares every service of the file', () => {
    expect(containers.map((c) => c.name).sort()).toEqual([
      'ville-exemple-backup-restic', 'ville-exemple-consultation-db', 'ville-exemple-consultation-redis',
      'ville-exemple-consultation-scheduler', 'ville-exemple-consultation-web', 'ville-exemple-consultation-worker',
      'ville-exemple-limesurvey-app', 'ville-exemple-limesurvey-db', 'ville-exemple-mail-gateway', 'ville-exemple-matomo-app',
      'ville-exemple-matomo-archiver', 'ville-exemple-matomo-db', 'ville-exemple-onion-tor',
      'ville-exemple-proxy-log-retention', 'ville-exemple-proxy-nginx',
    ]);
  });

  it('pulls every image from the city registry, never a public one', () => {
    const images = resources(json, 'docker_image').map((i) => i.name);
    expect(images.length).toBeGreaterThan(5);
    for (const name of images) expect(name).toMatch(/^registre\.ville-exemple\.fr\/socle\/[a-z]+:[\w.-]+$/);
    for (const c of containers) expect(c.image).toMatch(/^\$\{docker_image\.[\w-]+\.image_id\}$/);
  });

  it('publishes ports on the proxy only, 80 and 443', () => {
    const publishing = containers.filter((c) => (c.ports ?? []).length > 0);
    expect(publishing.map((c) => c.name)).toEqual(['ville-exemple-proxy-nginx']);
    expect(publishing[0].ports.map((p: any) => p.external).sort()).toEqual([443, 80]);
  });

  it('hardens every container', () => {
    for (const c of containers) {
      expect(c, c.name).toMatchObject({
        restart: 'unless-stopped', capabilities: { drop: ['ALL'] }, security_opts: ['no-new-privileges:true'],
        log_driver: 'json-file', log_opts: { 'max-size': '10m', 'max-file': '3' },
      });
      expect(c.memory, c.name).toBeGreaterThan(0);
      expect(c.healthcheck.test.length, c.name).toBeGreaterThan(1);
    }
    // Read-only root everywhere: every image Socle builds writes only to its volumes and tmpfs.
    expect(containers.filter((c) => c.read_only !== true).map((c) => c.name).sort()).toEqual([]);
    // Non-root wherever the image allows: Decidim's upstream image has no other user than root.
    expect(containers.filter((c) => !c.user).map((c) => c.name).sort()).toEqual([
      'ville-exemple-consultation-scheduler', 'ville-exemple-consultation-web', 'ville-exemple-consultation-worker',
    ]);
  });

  it('keeps data tiers, front ends and mail on internal networks', () => {
    const nets = resources(json, 'docker_network');
    for (const n of nets) {
      const tier = labelsOf(n)[LABEL.tier];
      expect(n.internal, `${n.name} (${tier})`).toBe(tier !== 'egress');
    }
    expectResourceWith(json, Network, { name: 'ville-exemple-limesurvey-data', internal: true });
  });

  it('gives databases no route out and no path from the proxy', () => {
    const netName = (ref: string) => resources(json, 'docker_network').find((n) => ref.includes(`.${Object.keys(json.resource.docker_network).find((k) => json.resource.docker_network[k] === n)}.`))?.name;
    const networksOf = (name: string) => containerNamed(json, name).networks_advanced.map((n: any) => netName(n.name));
    for (const db of ['ville-exemple-limesurvey-db', 'ville-exemple-matomo-db', 'ville-exemple-consultation-db', 'ville-exemple-consultation-redis']) {
      const nets = networksOf(db);
      expect(nets.length).toBe(1);
      expect(networksOf('ville-exemple-proxy-nginx')).not.toContain(nets[0]);
    }
    expect(networksOf('ville-exemple-proxy-nginx').sort()).toEqual(['ville-exemple-frontend', 'ville-exemple-public']);
  });

  it('labels every volume with its service, data category and retention', () => {
    const volumes = resources(json, 'docker_volume');
    for (const v of volumes) {
      const l = labelsOf(v);
      expect(l[LABEL.commune]).toBe('ville-exemple');
      expect(['personal', 'secret', 'operational', 'cache']).toContain(l[LABEL.dataCategory]);
      expect(l[LABEL.retention]).toBeTruthy();
      expect(l[LABEL.personalData]).toBe(String(l[LABEL.dataCategory] === 'personal'));
    }
    const logs = volumes.find((v) => v.name === 'ville-exemple-proxy-logs');
    expect(labelsOf(logs)).toMatchObject({ [LABEL.service]: 'proxy', [LABEL.personalData]: 'true', [LABEL.retention]: '90 jours, 1024 Mio au plus ; journaux d’audience (adresses tronquées, pour l’import dans Matomo) 2 jours' });
    expectResourceWith(json, Volume, { name: 'ville-exemple-limesurvey-uploads', lifecycle: { prevent_destroy: true } });
    // Personal data is never destroyed by a careless `terraform destroy`.
    // Except what is transient by design: access logs (deleted after 90 days) and the backup
    // runner's cache (dumps deleted after each run).
    const transient = ['ville-exemple-proxy-logs', 'ville-exemple-backup-cache'];
    for (const v of volumes.filter((x) => labelsOf(x)[LABEL.personalData] === 'true' && !transient.includes(x.name))) {
      expect(v.lifecycle?.prevent_destroy, v.name).toBe(true);
    }
  });

  it('sends all mail through the city relay, STARTTLS on the submission port, from the city domain', () => {
    const web = containerNamed(json, 'ville-exemple-consultation-web');
    expect(web.env).toEqual(expect.arrayContaining(['SMTP_ADDRESS=zimbra.ville-exemple.fr', 'SMTP_PORT=587', 'SMTP_STARTTLS_AUTO=true', 'DECIDIM_MAILER_SENDER=ne-pas-repondre@ville-exemple.fr']));
    const matomo = containerNamed(json, 'ville-exemple-matomo-app');
    const matomoConfig = fileOf(matomo, '/etc/socle/matomo/config.ini.php');
    expect(matomoConfig).toMatch(/\[mail\]\ntransport = "smtp"\nhost = "zimbra\.ville-exemple\.fr"\nport = 587\n/);
    expect(matomoConfig).toContain('encryption = "tls"');
    expect(matomoConfig).toContain('noreply_email_address = "ne-pas-repondre@ville-exemple.fr"');
    const gateway = containerNamed(json, 'ville-exemple-mail-gateway');
    expect(gateway.networks_advanced.find((n: any) => n.aliases)?.aliases).toEqual(['zimbra.ville-exemple.fr']);
    expect(fileOf(gateway, '/etc/socle/nginx.conf')).toContain('proxy_pass 10.20.0.25:587;');
  });

  it('rotates and deletes the proxy access logs after the configured retention', () => {
    const nginx = containerNamed(json, 'ville-exemple-proxy-nginx');
    const conf = fileOf(nginx, '/etc/socle/nginx.conf');
    expect(conf).toContain('access_log /var/log/nginx/access-$socle_log_day.log');
    const retention = containerNamed(json, 'ville-exemple-proxy-log-retention');
    expect(retention.command.join(' ')).toContain("-mtime +89 -delete");
    expect(retention.network_mode).toBe('none');
  });

  it('serves one virtual host per service with security headers and the legal notice', () => {
    const conf = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/nginx.conf');
    for (const h of ['participer.ville-exemple.fr', 'enquetes.ville-exemple.fr', 'statistiques.ville-exemple.fr']) expect(conf).toContain(`server_name ${h};`);
    expect(conf).toContain('server_tokens off;');
    expect(conf).toMatch(/Strict-Transport-Security "max-age=63072000/);
    expect(conf).toContain('location = /mentions-legales');
    expect(conf).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    const csp = [...conf.matchAll(/Content-Security-Policy "([^"]+)"/g)].map((m) => m[1]);
    for (const policy of csp) expect(policy).not.toMatch(/https?:|\*\./);
  });

  it('writes a French legal notice naming the commune as host, its site and DPO', () => {
    const notice = fileOf(containerNamed(json, 'ville-exemple-proxy-nginx'), '/etc/socle/mentions-legales.html');
    expect(notice).toContain('<html lang="fr">');
    expect(notice).toContain('Commune de Ville-Exemple');
    expect(notice).toContain('Hôtel de ville, salle serveurs (sous-sol)');
    expect(notice).toContain('dpo@ville-exemple.fr');
    expect(notice).toContain('Mme Jeanne Exemple, maire');
    expect(notice).not.toMatch(/cloudflare|mandrill|google/i);
  });

  it('uses the city certificate from a host directory, so the key never enters Terraform', () => {
    expectResourceWith(json, Container, { name: 'ville-exemple-proxy-nginx', mounts: [{ type: 'bind', source: '/etc/socle/tls', target: '/etc/nginx/tls', read_only: true }] });
    expect(stack.text).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
  });

  it('writes a policy report per stack and the secret variables to fill at deploy', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'policy-report.ville-exemple-serveur-1.json'), 'utf8'));
    expect(report.filter((f: any) => f.status === 'non-compliant')).toEqual([]);
    const secrets = JSON.parse(readFileSync(join(outdir, 'stacks/ville-exemple-serveur-1/socle-secrets.json'), 'utf8'));
    expect(secrets).toEqual(expect.arrayContaining([expect.objectContaining({ variable: 'smtp_password', ref: { env: 'SOCLE_SMTP_PASSWORD' } })]));
    expect(json.variable.smtp_password).toMatchObject({ sensitive: true });
  });
});

describe('secrets', () => {
  it('never appear in the synthesized output, whatever the deploying machine holds', () => {
    const secretValues = { SOCLE_SMTP_PASSWORD: 'smtp-Sentinel-7f3a9c', SOCLE_RESTIC_PASSWORD: 'restic-Sentinel-2b8e41' };
    const c = exampleCity();
    c.registry.username = 'deploiement';
    c.registry.password = { file: writeCity('registry-Sentinel-91ad0e', 'registry-password') };
    const file = writeCity(c);
    const out = join(tempDir(), 'cdktf.out');
    const r = run(TSX, ['main.ts', '--config', file, '--out', out], secretValues);
    expect(r.status, r.stderr).toBe(0);
    const everything = allFiles(out).map((f) => readFileSync(f, 'utf8')).join('\n') + r.stdout + r.stderr;
    for (const v of [...Object.values(secretValues), 'registry-Sentinel-91ad0e']) expect(everything).not.toContain(v);
    // Generated passwords are references too.
    expect(everything).toMatch(/\$\{random_password\.[\w-]+\.result\}/);
    expect(everything).not.toMatch(/(PASSWORD|SECRET_KEY_BASE)=(?!\$\{)[^"\s]+/);
  });
});

describe('the commands', () => {
  it('npm start synthesizes the example and prints hosts, services, ports, networks and personal-data volumes', () => {
    const r = run('npm', ['start', '--silent'], {}, ROOT);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/stack ville-exemple-serveur-1/);
    expect(r.stdout).toMatch(/publishes .*0\.0\.0\.0:443->443\/tcp/);
    expect(r.stdout).toMatch(/ville-exemple-limesurvey-data\s+internal \(no route out\)/);
    expect(r.stdout).toMatch(/ville-exemple-limesurvey-uploads\s+PERSONAL DATA/);
  });

  it('cdktf synth and cdktf synth --hcl produce the same stacks (the exit path off cdktf)', () => {
    const out = join(tempDir(), 'cdktf.out');
    const json = run(CDKTF, ['synth', '--output', out]);
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'stacks/ville-exemple-serveur-1/cdk.tf.json'), 'utf8')).resource.docker_container).toBeTruthy();
    const hclOut = join(tempDir(), 'cdktf.out');
    const hcl = run(CDKTF, ['synth', '--hcl', '--output', hclOut]);
    expect(hcl.status, hcl.stderr).toBe(0);
    const tf = readFileSync(join(hclOut, 'stacks/ville-exemple-serveur-1/cdk.tf'), 'utf8');
    expect(tf).toMatch(/resource "docker_container" "[\w-]+"/);
    expect(tf).toMatch(/variable "smtp_password"[\s\S]*sensitive\s*=\s*true/);
  });
});
