import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AnnotationMetadataEntryType, Aspects, Testing } from 'cdktf';
import type { Construct } from 'constructs';
import { Container, type ContainerConfig } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { loadCity } from '../stacks/config/load.js';
import { HostStack, LABEL, generatedFileOf } from '../stacks/host-stack.js';
import { SOCLE_RULES, SoclePack, type Finding } from '../stacks/policy/socle-pack.js';
import { mailSettingsMatchRelay } from '../stacks/policy/rules.js';
import { suppress } from '../core/suppressions.js';
import { buildApp } from '../stacks/synth.js';
import type { ContainerSpec } from '../services/common/platform.js';
import { CDKTF, EXAMPLE, TSX, exampleCity, resources, run, synthToDisk, tempDir, writeCity } from './helpers.js';

const city = loadCity(EXAMPLE);

function hostStack(): HostStack {
  return new HostStack(Testing.app(), 'policy-test', { city, host: city.hosts[0] });
}

/** A container through the platform: hardened, healthchecked, from the city registry. */
const goodSpec: ContainerSpec = {
  service: 'demo', role: 'app', image: 'base', command: ['sleep', 'infinity'],
  healthcheck: { test: ['CMD', 'true'] }, memoryMiB: 64,
};

/** A raw provider container that passes every rule, to plant one violation at a time. */
function plant(scope: Construct, overrides: Partial<ContainerConfig> = {}): Container {
  return new Container(scope, 'planted', {
    name: 'planted', image: `${city.registry.host}/${city.registry.namespace}/base:bookworm`, memory: 64,
    healthcheck: { test: ['CMD', 'true'] }, capabilities: { drop: ['ALL'] }, securityOpts: ['no-new-privileges:true'],
    restart: 'unless-stopped', logOpts: { 'max-size': '10m' }, ulimit: [{ name: 'nproc', soft: 256, hard: 256 }], ...overrides,
  });
}

function findingsFor(scope: Construct, ruleId: string, pathPart = 'planted'): Finding[] {
  const pack = new SoclePack().check(scope.node.root);
  return pack.findings.filter((f) => f.ruleId === ruleId && f.path.includes(pathPart));
}

const statusOf = (scope: Construct, ruleId: string, pathPart?: string) => findingsFor(scope, ruleId, pathPart).map((f) => f.status);

describe('Socle-IMG1: images come from the city registry', () => {
  it('Noncompliance: a Docker Hub image', () => {
    const s = hostStack();
    new Image(s, 'planted', { name: 'docker.io/library/nginx:latest' });
    expect(statusOf(s, 'Socle-IMG1')).toEqual(['non-compliant']);
  });
  it('Noncompliance: a container naming an image directly', () => {
    const s = hostStack();
    plant(s, { image: 'ghcr.io/decidim/decidim:0.28' });
    expect(statusOf(s, 'Socle-IMG1')).toEqual(['non-compliant']);
  });
  it('Compliance: the platform resolves images under the registry', () => {
    const s = hostStack();
    s.container(s, 'planted', goodSpec);
    expect(statusOf(s, 'Socle-IMG1')).toEqual(['compliant']);
    expect(statusOf(s, 'Socle-IMG1', 'image-base')).toEqual(['compliant']);
  });
});

describe('Socle-TP1: no third-party host', () => {
  it('Noncompliance: a container configured with a transactional mail relay', () => {
    const s = hostStack();
    plant(s, { env: ['SMTP_ADDRESS=smtp.sendgrid.net'] });
    const [f] = findingsFor(s, 'Socle-TP1');
    expect(f.status).toBe('non-compliant');
    expect(f.details).toMatch(/SendGrid/);
  });
  it('Noncompliance: a web font in a generated file', () => {
    const s = hostStack();
    plant(s, { upload: [{ file: '/etc/app.conf', content: 'font_url = https://fonts.googleapis.com/css?family=Marianne' }] });
    expect(statusOf(s, 'Socle-TP1')).toEqual(['non-compliant']);
  });
  it('Compliance: the city\'s own hosts', () => {
    const s = hostStack();
    plant(s, { env: ['SMTP_ADDRESS=zimbra.ville-exemple.fr'] });
    expect(statusOf(s, 'Socle-TP1')).toEqual(['compliant']);
  });
});

describe('Socle-NET1: only the proxy publishes ports', () => {
  it('Noncompliance: an app publishing a port', () => {
    const s = hostStack();
    plant(s, { ports: [{ internal: 8080, external: 8080 }] });
    expect(statusOf(s, 'Socle-NET1')).toEqual(['non-compliant']);
  });
  it('Noncompliance: a container on the host network', () => {
    const s = hostStack();
    plant(s, { networkMode: 'host' });
    expect(statusOf(s, 'Socle-NET1')).toEqual(['non-compliant']);
  });
  it('Noncompliance: a container calling itself the proxy but publishing SSH', () => {
    const s = hostStack();
    s.container(s, 'planted', { ...goodSpec, service: 'proxy', role: 'nginx', ports: [{ internal: 22, external: 2222, ip: '0.0.0.0' }] });
    expect(statusOf(s, 'Socle-NET1')).toEqual(['non-compliant']);
  });
  it('Compliance: the proxy container', () => {
    const s = hostStack();
    s.container(s, 'planted', { ...goodSpec, service: 'proxy', role: 'nginx', ports: [{ internal: 443, external: 443, ip: '0.0.0.0' }] });
    expect(statusOf(s, 'Socle-NET1')).toEqual(['compliant']);
  });
  it('Suppressed: with a written reason, reported as such', () => {
    const s = hostStack();
    const c = plant(s, { ports: [{ internal: 2222, external: 2222, ip: '10.0.0.1' }] });
    suppress(c, [{ id: 'Socle-NET1', reason: 'SFTP endpoint bound to the private address' }]);
    const [f] = findingsFor(s, 'Socle-NET1');
    expect(f).toMatchObject({ status: 'suppressed', reason: 'SFTP endpoint bound to the private address' });
  });
  it('fails when a suppression has no real reason', () => {
    const s = hostStack();
    const c = plant(s);
    expect(() => suppress(c, [{ id: 'Socle-NET1', reason: 'ok' }])).toThrow(/at least 10 characters/);
    expect(() => suppress(c, [{ id: 'NET1', reason: 'a long enough reason' }])).toThrow(/not a rule id/);
  });
});

describe('Socle-NET2: private networks are internal', () => {
  it('Noncompliance: a data-tier network with a route out', () => {
    const s = hostStack();
    new Network(s, 'planted', { name: 'planted', internal: false, labels: [{ label: LABEL.tier, value: 'data' }] });
    expect(statusOf(s, 'Socle-NET2')).toEqual(['non-compliant']);
  });
  it('Compliance: data networks made by the platform', () => {
    const s = hostStack();
    s.network(s, { name: 'planted', tier: 'data' });
    expect(statusOf(s, 'Socle-NET2', 'network-planted')).toEqual(['compliant']);
  });
  it('Compliance: egress networks are not its business', () => {
    const s = hostStack();
    s.network(s, { name: 'planted', tier: 'egress' });
    expect(statusOf(s, 'Socle-NET2', 'network-planted')).toEqual([]);
  });
});

describe('Socle-CT1: containers have a healthcheck', () => {
  it('Noncompliance: no healthcheck', () => {
    const s = hostStack();
    plant(s, { healthcheck: undefined });
    expect(statusOf(s, 'Socle-CT1')).toEqual(['non-compliant']);
  });
  it('Compliance: with one', () => {
    const s = hostStack();
    plant(s);
    expect(statusOf(s, 'Socle-CT1')).toEqual(['compliant']);
  });
});

describe('Socle-CT4: containers have a process-count limit', () => {
  it('Noncompliance: no ulimit nproc', () => {
    const s = hostStack();
    plant(s, { ulimit: undefined });
    expect(statusOf(s, 'Socle-CT4')).toEqual(['non-compliant']);
  });
  it('Noncompliance: other limits only', () => {
    const s = hostStack();
    plant(s, { ulimit: [{ name: 'nofile', soft: 1024, hard: 1024 }] });
    expect(statusOf(s, 'Socle-CT4')).toEqual(['non-compliant']);
  });
  it('Compliance: with one', () => {
    const s = hostStack();
    plant(s);
    expect(statusOf(s, 'Socle-CT4')).toEqual(['compliant']);
  });
});

describe('Socle-CT2: containers have a memory limit', () => {
  it('Noncompliance: no memory limit', () => {
    const s = hostStack();
    plant(s, { memory: undefined });
    expect(statusOf(s, 'Socle-CT2')).toEqual(['non-compliant']);
  });
  it('Compliance: with one', () => {
    const s = hostStack();
    plant(s);
    expect(statusOf(s, 'Socle-CT2')).toEqual(['compliant']);
  });
});

describe('Socle-CT3: containers are hardened', () => {
  it.each([
    ['privileged', { privileged: true }, /privileged/],
    ['keeping capabilities', { capabilities: { drop: ['NET_RAW'] } }, /ALL capabilities/],
    ['without no-new-privileges', { securityOpts: [] }, /no-new-privileges/],
    ['without restart policy', { restart: 'no' }, /restart/],
    ['with unbounded logs', { logOpts: {} }, /unbounded/],
    ['adding SYS_ADMIN', { capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] } }, /adds SYS_ADMIN/],
    ['without seccomp', { securityOpts: ['no-new-privileges:true', 'seccomp=unconfined'] }, /disables confinement/],
    ['sharing the host PID namespace', { pidMode: 'host' }, /host's pid namespace/],
    ['holding the Docker socket', { mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] }, /Docker socket/],
  ])('Noncompliance: %s', (_n, overrides, message) => {
    const s = hostStack();
    plant(s, overrides as Partial<ContainerConfig>);
    const [f] = findingsFor(s, 'Socle-CT3');
    expect(f.status).toBe('non-compliant');
    expect(f.details).toMatch(message);
  });
  it('Compliance: every platform container', () => {
    const s = hostStack();
    s.container(s, 'planted', goodSpec);
    expect(statusOf(s, 'Socle-CT3')).toEqual(['compliant']);
  });
});

describe('Socle-SEC1: no secret literal', () => {
  it.each([
    ['env', { env: ['DB_PASSWORD=hunter2hunter2'] }],
    ['command line', { command: ['redis-server', '--requirepass', 'hunter2hunter2'] }],
    ['generated file', { upload: [{ file: '/app/config.php', content: "'password' => 'hunter2hunter2'," }] }],
    ['URL of the env', { env: ['DATABASE_URL=postgres://app:hunter2hunter2@db/app'] }],
    ['short-named env', { env: ['SMTP_PASS=hunter2hunter2'] }],
    ['flag with =', { command: ['redis-server', '--requirepass=hunter2hunter2'] }],
    ['healthcheck', { healthcheck: { test: ['CMD-SHELL', 'mysqladmin -uroot -phunter2hunter2 ping'] } }],
  ])('Noncompliance: in the %s', (_n, overrides) => {
    const s = hostStack();
    plant(s, overrides as Partial<ContainerConfig>);
    expect(statusOf(s, 'Socle-SEC1')).toEqual(['non-compliant']);
  });
  it('Compliance: references to generated values and variables', () => {
    const s = hostStack();
    const pw = s.generatedSecret(s, 'pw');
    plant(s, { env: [`DB_PASSWORD=${pw}`, `SMTP_PASSWORD=${s.secretVariable('smtp_password', 'x')}`], command: ['redis-server', '--requirepass', pw] });
    expect(statusOf(s, 'Socle-SEC1')).toEqual(['compliant']);
  });
});

const LIMESURVEY_CONFIG = '/etc/socle/limesurvey/config.php';

describe('Socle-MAIL1: app mail settings match the relay', () => {
  const mailFindings = (mutate: (c: any) => void = () => {}) => {
    const c = exampleCity();
    mutate(c);
    const { pack } = buildApp([loadCity(writeCity(c))], tempDir());
    return pack.findings.filter((f) => f.ruleId === 'Socle-MAIL1');
  };

  it('passes the example city, whose apps take everything from mail.relay and mail.from', () => {
    const findings = mailFindings();
    expect(findings.length).toBeGreaterThanOrEqual(3);
    expect(findings.filter((f) => f.status !== 'compliant')).toEqual([]);
  });

  it('fails a city override of the consultation app\'s SMTP port, naming the variable and the override', () => {
    const errors = mailFindings((c) => { c.services.consultation.env.SMTP_PORT = '2525'; }).filter((f) => f.status === 'non-compliant');
    expect(errors.map((f) => f.path).sort()).toEqual(['ville-exemple-serveur-1/consultation/Scheduler', 'ville-exemple-serveur-1/consultation/Web', 'ville-exemple-serveur-1/consultation/Worker']);
    expect(errors[0].details).toMatch(/SMTP_PORT=2525 is not the relay's port 587 \(city override: .*ville\.yaml:\d+: services\.consultation\.env\.SMTP_PORT\)/);
    expect(errors[0].fix).toMatch(/services\.<service>\.env/);
  });

  it('fails a relay host other than mail.relay.host, and a security that does not match', () => {
    const errors = mailFindings((c) => { c.services.consultation.env.SMTP_ADDRESS = 'smtp.ville-exemple.fr'; c.services.consultation.env.SOCLE_SMTP_TLS = 'true'; }).filter((f) => f.status === 'non-compliant');
    expect(errors[0].details).toMatch(/SMTP_ADDRESS=smtp\.ville-exemple\.fr is not the relay zimbra\.ville-exemple\.fr/);
    expect(errors[0].details).toMatch(/SOCLE_SMTP_TLS=true but the relay's security is starttls/);
  });

  it('reads the settings LimeSurvey, Matomo and the backup runner keep in files, and passes them', () => {
    const findings = mailFindings();
    for (const part of ['/limesurvey/', '/matomo/', '/backup/']) {
      expect(findings.filter((f) => f.path.includes(part)).map((f) => f.status), part).toContain('compliant');
    }
  });

  it('fails a file whose settings point elsewhere, naming the file and the setting (the rule alone, on synthesized attributes)', () => {
    const relay = { host: 'zimbra.ville-exemple.fr', port: 587, security: 'starttls' as const, domain: 'ville-exemple.fr' };
    const container = synthToDisk(EXAMPLE).stacks.flatMap((st) => resources(st.json, 'docker_container')).find((c: any) => generatedFileOf(c, LIMESURVEY_CONFIG) !== undefined);
    const rule = mailSettingsMatchRelay(relay);
    expect(rule({ type: 'docker_container', attrs: container })).toEqual({ status: 'compliant' });
    const original = generatedFileOf(container, LIMESURVEY_CONFIG)!;
    const changed = original.replace(':587', ':2525').replace("'emailsmtpssl' => 'tls'", "'emailsmtpssl' => 'ssl'").replace(/'siteadminemail' => '[^']*'/, "'siteadminemail' => 'enquetes@prestataire.example'");
    expect(changed).not.toBe(original);
    const tampered = { ...container, env: container.env.map((e: string) => e.replace(original, changed)) };
    const result = rule({ type: 'docker_container', attrs: tampered });
    expect(result.status).toBe('non-compliant');
    expect((result as { details: string }).details).toMatch(/\/etc\/socle\/limesurvey\/config\.php: port 2525 is not the relay's port 587/);
    expect((result as { details: string }).details).toMatch(/security tls but the relay's is starttls/);
    expect((result as { details: string }).details).toMatch(/sender enquetes@prestataire\.example is not in the sending domain ville-exemple\.fr/);
  });

  it('fails a sender outside the sending domain', () => {
    const errors = mailFindings((c) => { c.services.consultation.env.DECIDIM_MAILER_SENDER = 'participation@autre-ville.fr'; }).filter((f) => f.status === 'non-compliant');
    expect(errors.length).toBe(3);
    expect(errors[0].details).toMatch(/DECIDIM_MAILER_SENDER=participation@autre-ville\.fr is not in the sending domain ville-exemple\.fr/);
  });
});

describe('the policy pack', () => {
  it('has unique ids, each with info, explanation and fix', () => {
    expect(new Set(SOCLE_RULES.map((r) => r.id)).size).toBe(SOCLE_RULES.length);
    for (const r of SOCLE_RULES) expect(r.info && r.explanation && r.fix).toBeTruthy();
  });

  it('passes the bundled example clean, and runs every rule on it', () => {
    const { pack } = buildApp([city], tempDir());
    expect(pack.errors).toEqual([]);
    const ran = new Set(pack.findings.map((f) => f.ruleId));
    for (const r of SOCLE_RULES) expect(ran.has(r.id), r.id).toBe(true);
  });

  it('runs as a cdktf Aspect during synth and leaves an error annotation', () => {
    const s = hostStack();
    plant(s, { memory: undefined });
    Aspects.of(s).add(new SoclePack());
    Testing.synth(s);
    const errors = s.node.findAll().flatMap((n) => n.node.metadata).filter((m) => m.type === AnnotationMetadataEntryType.ERROR);
    expect(errors.map((m) => String(m.data))).toEqual([expect.stringMatching(/^\[Socle-CT2\] .*Fix: Set memoryMiB/)]);
  });

  it('fails npm run synth (exit 1) on a violation the config loader lets through, writing nothing', () => {
    const c = exampleCity();
    c.services.consultation.env.APP_CONFIG = "password = 'hunter2hunter2'";
    const out = join(tempDir(), 'cdktf.out');
    const r = run(TSX, ['main.ts', '--config', writeCity(c), '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Socle-SEC1 .*consultation\/Web/);
    expect(existsSync(out)).toBe(false);
  });

  it('fails cdktf synth through the Aspect alone, on a violation planted in code', () => {
    const out = join(tempDir(), 'cdktf.out');
    const cli = run(CDKTF, ['synth', '--output', out, '--app', `${TSX} tests/fixtures/planted-app.ts`]);
    expect(cli.status).not.toBe(0);
    expect(cli.stdout + cli.stderr).toMatch(/Socle-CT2 ville-exemple-serveur-1\/planted\n\s+The container has no memory limit/);
    expect(cli.stdout + cli.stderr).toMatch(/must not be deployed/);
  });

  it('accepts a suppression from the city file, and reports it with its reason', () => {
    const c = exampleCity();
    c.services.consultation.env.APP_CONFIG = "password = 'hunter2hunter2'";
    c.policy = { suppressions: [{ id: 'Socle-SEC1', path: 'consultation', reason: 'demo password of a test instance, revoked' }] };
    const out = join(tempDir(), 'cdktf.out');
    const r = run(TSX, ['main.ts', '--config', writeCity(c), '--out', out, '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(out, 'policy-report.ville-exemple-serveur-1.csv'))).toBe(true);
  });

  it('applies a commune\'s suppressions to its own stacks only', () => {
    const dir = tempDir();
    const a = exampleCity();
    a.services.proxy.bindAddress = '10.20.0.98';
    a.services.consultation.env.APP_CONFIG = "password = 'hunter2hunter2'";
    const b = exampleCity();
    b.commune.slug = 'autre-commune';
    b.services.proxy.bindAddress = '10.20.0.99';
    b.services.consultation.env.APP_CONFIG = "password = 'hunter2hunter2'";
    b.policy = { suppressions: [{ id: 'Socle-SEC1', path: 'consultation', reason: 'demo password of a test instance, revoked' }] };
    writeCity(a, 'a.yaml', dir);
    writeCity(b, 'b.yaml', dir);
    const r = run(TSX, ['main.ts', '--config', dir, '--out', join(tempDir(), 'out')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Socle-SEC1 ville-exemple-serveur-1\/consultation/);
    expect(r.stderr).not.toMatch(/autre-commune-serveur-1/);
  });

  it('fails with exit 2 on a city suppression that matches nothing', () => {
    const c = exampleCity();
    c.policy = { suppressions: [{ id: 'Socle-NET1', path: 'limesurvey/Typo', reason: 'cross-host upstream for the proxy' }] };
    const r = run(TSX, ['main.ts', '--config', writeCity(c)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/matches no resource/);
  });
});

describe('the platform', () => {
  it('passes generated files of a read-only container in its environment (Docker cannot copy into a read-only root)', () => {
    const s = hostStack();
    s.container(s, 'planted', { ...goodSpec, uploads: [{ path: '/etc/socle/app.conf', content: 'line 1\nline 2' }] });
    const json = JSON.parse(Testing.synth(s));
    const planted = Object.values<any>(json.resource.docker_container)[0];
    expect(planted.env).toEqual(['SOCLE_FILE_0_PATH=/etc/socle/app.conf', 'SOCLE_FILE_0=line 1\nline 2']);
    expect(planted.tmpfs['/etc/socle']).toMatch(/^rw,noexec,nosuid,size=1m/);
    expect(planted.upload).toBeUndefined();
    expect(planted.read_only).toBe(true);
  });

  it('fails when a read-only container gets a generated file outside /etc/socle', () => {
    const s = hostStack();
    expect(() => s.container(s, 'planted', { ...goodSpec, uploads: [{ path: '/etc/nginx/nginx.conf', content: 'x' }] })).toThrow(/must be under \/etc\/socle\//);
  });
});
