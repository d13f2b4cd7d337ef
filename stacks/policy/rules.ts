/**
 * Socle's policy rules: small pure functions over one synthesized resource. They know nothing of
 * wording or severity; the pack (socle-pack.ts) binds each to an id, a level and a fix.
 */
import { thirdPartiesIn } from './third-parties.js';
import { LABEL } from '../../core/labels.js';
import { BACKUP_PLAN_PATH } from '../../services/backup/plan.js';
import { generatedFileOf } from '../host-stack.js';
import { sendingDomain } from '../config/defaults.js';

export type Compliance =
  | { readonly status: 'compliant' }
  | { readonly status: 'not-applicable' }
  /** `details` say what exactly is wrong, e.g. which env var. */
  | { readonly status: 'non-compliant'; readonly details: string };

const COMPLIANT: Compliance = { status: 'compliant' };
const NOT_APPLICABLE: Compliance = { status: 'not-applicable' };
export const violation = (details: string): Compliance => ({ status: 'non-compliant', details });

/** A resource as it will be written to cdk.tf.json (snake_case keys, tokens as `${...}`). */
export interface ResourceView {
  readonly type: string;
  readonly attrs: Readonly<Record<string, any>>;
  /** `<registry>/<namespace>/` of the city owning the stack, when known. */
  readonly registryPrefix?: string;
  /** The city's mail relay, when known (Socle-MAIL1). */
  readonly mailRelay?: MailRelayView;
}

export type Rule = (r: ResourceView) => Compliance;

function labelsOf(attrs: Record<string, any>): Record<string, string> {
  const raw = attrs.labels;
  if (Array.isArray(raw)) return Object.fromEntries(raw.map((l: any) => [l.label, l.value]));
  return raw ?? {};
}

const isReference = (value: unknown) => typeof value === 'string' && /^\$\{[^}]+\}$/.test(value);

/** Socle-IMG1: every image comes from the city's registry. */
export const imageFromCityRegistry: Rule = (r) => {
  if (!r.registryPrefix) return NOT_APPLICABLE;
  if (r.type === 'docker_image' || r.type === 'docker_registry_image') {
    const name = String(r.attrs.name ?? '');
    return name.startsWith(r.registryPrefix) ? COMPLIANT : violation(`image "${name}" is not under ${r.registryPrefix}`);
  }
  if (r.type === 'docker_container') {
    const image = r.attrs.image;
    if (isReference(image) && String(image).startsWith('${docker_image.')) return COMPLIANT;
    return String(image).startsWith(r.registryPrefix) ? COMPLIANT : violation(`image "${image}" is not under ${r.registryPrefix}`);
  }
  return NOT_APPLICABLE;
};

function* stringsIn(value: unknown, path: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* stringsIn(v, `${path}[${i}]`);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) if (k !== '//') yield* stringsIn(v, path ? `${path}.${k}` : k);
}

/** Socle-TP1: no container is configured to talk to a third party. */
export const noThirdPartyHost: Rule = (r) => {
  if (r.type !== 'docker_container' && r.type !== 'docker_image') return NOT_APPLICABLE;
  const hits: string[] = [];
  for (const [path, text] of stringsIn(r.attrs, '')) {
    for (const { host, party } of thirdPartiesIn(text)) hits.push(`${path} mentions ${host} (${party.vendor}, ${party.category})`);
  }
  return hits.length ? violation(hits.join('; ')) : COMPLIANT;
};

/** Socle-NET1: only the reverse proxy publishes ports. */
export const portsOnlyOnProxy: Rule = (r) => {
  if (r.type !== 'docker_container') return NOT_APPLICABLE;
  if (r.attrs.network_mode === 'host') return violation('uses the host network (every port it opens is public)');
  const ports = r.attrs.ports ?? [];
  if (ports.length === 0 && !r.attrs.publish_all_ports) return COMPLIANT;
  const labels = labelsOf(r.attrs);
  const webPortsOnly = !r.attrs.publish_all_ports && ports.every((p: any) => p.internal === 80 || p.internal === 443);
  if (labels[LABEL.service] === 'proxy' && labels[LABEL.role] === 'nginx' && webPortsOnly) return COMPLIANT;
  return violation(`publishes ${ports.map((p: any) => `${p.ip ?? '0.0.0.0'}:${p.external}->${p.internal}`).join(', ') || 'all ports'}`);
};

/** Socle-NET2: data-tier (and front-end and mail) networks have no route out. */
export const privateNetworksInternal: Rule = (r) => {
  if (r.type !== 'docker_network') return NOT_APPLICABLE;
  const tier = labelsOf(r.attrs)[LABEL.tier];
  if (tier === undefined || tier === 'egress') return NOT_APPLICABLE;
  return r.attrs.internal === true ? COMPLIANT : violation(`network "${r.attrs.name}" of tier ${tier} is not internal`);
};

/** Socle-CT1: every container has a healthcheck. */
export const containerHasHealthcheck: Rule = (r) => {
  if (r.type !== 'docker_container') return NOT_APPLICABLE;
  const test = r.attrs.healthcheck?.test;
  return Array.isArray(test) && test.length > 0 && test[0] !== 'NONE' ? COMPLIANT : violation('no healthcheck');
};

/** Socle-CT2: every container has a memory limit. */
export const containerHasMemoryLimit: Rule = (r) => {
  if (r.type !== 'docker_container') return NOT_APPLICABLE;
  return typeof r.attrs.memory === 'number' && r.attrs.memory > 0 ? COMPLIANT : violation('no memory limit');
};

/** Socle-CT4: every container has a process-count limit. */
export const containerHasProcessLimit: Rule = (r) => {
  if (r.type !== 'docker_container') return NOT_APPLICABLE;
  const nproc = (r.attrs.ulimit ?? []).find((u: any) => u.name === 'nproc');
  return nproc && nproc.hard > 0 && nproc.soft > 0 ? COMPLIANT : violation('no process-count limit (ulimit nproc)');
};

/** Socle-CT3: containers drop every capability, cannot gain privileges and are not privileged. */
export const containerHardened: Rule = (r) => {
  if (r.type !== 'docker_container') return NOT_APPLICABLE;
  const problems: string[] = [];
  if (r.attrs.privileged === true) problems.push('runs privileged');
  if (!(r.attrs.capabilities?.drop ?? []).includes('ALL')) problems.push('does not drop ALL capabilities');
  const powerful = (r.attrs.capabilities?.add ?? []).filter((c: string) => DANGEROUS_CAPS.has(c.replace(/^CAP_/, '')));
  if (powerful.length) problems.push(`adds ${powerful.join(', ')}`);
  if (!(r.attrs.security_opts ?? []).some((o: string) => /^no-new-privileges(:true)?$/.test(o))) problems.push('lacks no-new-privileges');
  const unconfined = (r.attrs.security_opts ?? []).filter((o: string) => /unconfined/.test(o));
  if (unconfined.length) problems.push(`disables confinement (${unconfined.join(', ')})`);
  for (const mode of ['pid_mode', 'ipc_mode', 'userns_mode', 'network_mode', 'uts_mode']) if (r.attrs[mode] === 'host') problems.push(`shares the host's ${mode.replace('_mode', '')} namespace`);
  const sources = [...(r.attrs.mounts ?? []).map((m: any) => m.source), ...(r.attrs.volumes ?? []).map((v: any) => v.host_path)].filter(Boolean);
  if (sources.some((s: string) => /docker\.sock|^\/(proc|sys|dev|etc|root|var\/lib\/docker)?$/.test(s))) problems.push('mounts the Docker socket or a sensitive host path');
  if (!r.attrs.restart || r.attrs.restart === 'no') problems.push('has no restart policy');
  const opts = r.attrs.log_opts ?? {};
  if ((r.attrs.log_driver ?? 'json-file') === 'json-file' && !opts['max-size']) problems.push('has unbounded json-file logs');
  return problems.length ? violation(problems.join(', ')) : COMPLIANT;
};

const DANGEROUS_CAPS = new Set(['ALL', 'SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE', 'SYS_MODULE', 'DAC_READ_SEARCH', 'SYS_RAWIO', 'BPF']);

const SECRET_NAME = /(PASSWORD|PASSWD|_PASS$|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|MASTER_?KEY|_AUTH$)/i;
// user:password@ in a URL, with the password not a reference.
const URL_CREDENTIALS = /:\/\/[^/:@\s]*:(?!\$\{)[^@\s]+@/;
// -pPASSWORD, --password=..., --requirepass=... written out on a command line.
const INLINE_PASSWORD_FLAG = /(^|\s)(-p(?!\$\{)\S{4,}|--(password|requirepass|pass)=(?!\$\{)\S+)/;
const SECRET_ASSIGNMENT = /(password|passwd|secret|token|api_?key)['"]?\s*(=>|=|:)\s*['"]([^'"$\s{][^'"\s]{5,})['"]/i;

/** Socle-SEC1: no secret-looking literal in a container's environment, command or files. */
export const noSecretLiteral: Rule = (r) => {
  if (r.type !== 'docker_container') return NOT_APPLICABLE;
  const hits: string[] = [];
  for (const entry of r.attrs.env ?? []) {
    const [name, ...rest] = String(entry).split('=');
    const value = rest.join('=');
    if (SECRET_NAME.test(name) && value !== '' && !value.includes('${')) hits.push(`env ${name} holds a literal`);
    else if (URL_CREDENTIALS.test(value)) hits.push(`env ${name} holds a URL with a literal password`);
    else if (SECRET_ASSIGNMENT.test(value)) hits.push(`env ${name} holds a file assigning a literal secret`);
  }
  const args = [...(r.attrs.entrypoint ?? []), ...(r.attrs.command ?? [])].map(String);
  for (const [i, arg] of args.entries()) {
    const prev = args[i - 1] ?? '';
    if (/pass|secret|token/i.test(prev) && !prev.includes('=') && !arg.includes('${')) hits.push(`command argument after ${prev} is a literal`);
    if (INLINE_PASSWORD_FLAG.test(arg) || URL_CREDENTIALS.test(arg)) hits.push(`command argument "${arg.slice(0, 12)}..." carries a literal password`);
  }
  for (const t of r.attrs.healthcheck?.test ?? []) if (INLINE_PASSWORD_FLAG.test(String(t)) || URL_CREDENTIALS.test(String(t))) hits.push('the healthcheck carries a literal password');
  for (const u of r.attrs.upload ?? []) {
    const m = SECRET_ASSIGNMENT.exec(String(u.content ?? ''));
    if (m) hits.push(`file ${u.file} assigns a literal to ${m[1]}`);
  }
  return hits.length ? violation(hits.join('; ')) : COMPLIANT;
};

/** The relay every app must send through, as the city file gives it (mail.relay, mail.from). */
export interface MailRelayView {
  readonly host: string; readonly port: number; readonly security: 'starttls' | 'tls'; readonly domain: string;
  /** Per service, the environment variables the city file overrides, with their `file:line`: where a wrong value comes from. */
  readonly overrides?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** Environment variables naming an app's mail host, port, security and sender (Decidim, LimeSurvey, Matomo and Socle's own). */
const MAIL_HOST_VARS = ['SMTP_ADDRESS', 'SMTP_HOST', 'MAIL_HOST'];
const MAIL_PORT_VARS = ['SMTP_PORT', 'MAIL_PORT'];
const MAIL_FROM_VARS = ['MAIL_FROM', 'SMTP_FROM', 'SOCLE_MAIL_FROM', 'DECIDIM_MAILER_SENDER'];

/** Mail settings an app keeps in a file the stack uploads, as read back from that file. */
interface MailSettingsInFile { readonly host?: string; readonly port?: string; readonly security?: string; readonly from?: string }

const phpValue = (content: string, key: string) => new RegExp(`'${key}'\\s*=>\\s*'([^']*)'`).exec(content)?.[1];
function iniValue(content: string, section: string, key: string): string | undefined {
  const body = new RegExp(`^\\[${section}\\]\\s*$([\\s\\S]*?)(?=^\\[|(?![\\s\\S]))`, 'm').exec(content)?.[1] ?? '';
  return new RegExp(`^${key}\\s*=\\s*"?([^"\\n]*)"?\\s*$`, 'm').exec(body)?.[1];
}
/** PHPMailer's names (LimeSurvey, Matomo) in the relay's terms: 'tls' is STARTTLS, 'ssl' implicit TLS. */
const PHPMAILER_SECURITY: Record<string, string> = { tls: 'starttls', ssl: 'tls' };
const phpMailerSecurity = (v: string | undefined) => (v === undefined ? undefined : PHPMAILER_SECURITY[v] ?? v);

/**
 * Where apps keep their mail settings in a file rather than their environment, and how to read
 * them: LimeSurvey's config.php, Matomo's config.ini.php, the backup runner's plan (its alerts).
 */
const MAIL_SETTINGS_FILES: Readonly<Record<string, (content: string) => MailSettingsInFile>> = {
  '/etc/socle/limesurvey/config.php': (c) => {
    const [host, port] = (phpValue(c, 'emailsmtphost') ?? '').split(':');
    return { host: host || undefined, port, security: phpMailerSecurity(phpValue(c, 'emailsmtpssl')), from: phpValue(c, 'siteadminemail') };
  },
  '/etc/socle/matomo/config.ini.php': (c) => {
    return { host: iniValue(c, 'mail', 'host'), port: iniValue(c, 'mail', 'port'), security: phpMailerSecurity(iniValue(c, 'mail', 'encryption')), from: iniValue(c, 'General', 'noreply_email_address') };
  },
  [BACKUP_PLAN_PATH]: (c) => {
    const a = JSON.parse(c).alerts ?? {};
    return { host: a.host, port: a.port === undefined ? undefined : String(a.port), security: a.security, from: a.from };
  },
};

/** What is wrong with one file's mail settings against the relay. */
function mailFileProblems(file: string, m: MailSettingsInFile, relay: MailRelayView): string[] {
  const problems: string[] = [];
  if (m.host !== undefined && m.host !== relay.host) problems.push(`${file}: host ${m.host} is not the relay ${relay.host}`);
  if (m.port !== undefined && m.port !== String(relay.port)) problems.push(`${file}: port ${m.port} is not the relay's port ${relay.port}`);
  if (m.security !== undefined && m.security !== relay.security) problems.push(`${file}: security ${m.security} but the relay's is ${relay.security}`);
  if (m.from !== undefined && sendingDomain(m.from) !== relay.domain) problems.push(`${file}: sender ${m.from} is not in the sending domain ${relay.domain}`);
  return problems;
}

/**
 * Socle-MAIL1: a container's mail settings (its environment, and the files it keeps them in) point
 * at the city's relay, with its port and security, and send from its domain.
 */
export const mailSettingsMatchRelay = (relay: MailRelayView | undefined): Rule => (r) => {
  if (!relay || r.type !== 'docker_container') return NOT_APPLICABLE;
  const env = new Map<string, string>((r.attrs.env ?? []).map((e: string) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const problems: string[] = [];
  const service = labelsOf(r.attrs as Record<string, any>)[LABEL.service];
  const overridden = (service && relay.overrides?.[service]) || {};
  const literal = (name: string) => { const v = env.get(name); return v === undefined || isReference(v) ? undefined : v; };
  const origin = (name: string) => overridden[name] ? ` (city override: ${overridden[name]}: services.${service}.env.${name})` : '';
  for (const name of MAIL_HOST_VARS) {
    const v = literal(name);
    if (v !== undefined && v !== relay.host) problems.push(`${name}=${v} is not the relay ${relay.host}${origin(name)}`);
  }
  for (const name of MAIL_PORT_VARS) {
    const v = literal(name);
    if (v !== undefined && v !== String(relay.port)) problems.push(`${name}=${v} is not the relay's port ${relay.port}${origin(name)}`);
  }
  for (const name of MAIL_FROM_VARS) {
    const v = literal(name);
    if (v !== undefined && sendingDomain(v) !== relay.domain) problems.push(`${name}=${v} is not in the sending domain ${relay.domain}${origin(name)}`);
  }
  const starttls = literal('SMTP_STARTTLS_AUTO');
  if (starttls !== undefined && (starttls === 'true') !== (relay.security === 'starttls')) problems.push(`SMTP_STARTTLS_AUTO=${starttls} but the relay's security is ${relay.security}${origin('SMTP_STARTTLS_AUTO')}`);
  const tls = literal('SOCLE_SMTP_TLS');
  if (tls !== undefined && (tls === 'true') !== (relay.security === 'tls')) problems.push(`SOCLE_SMTP_TLS=${tls} but the relay's security is ${relay.security}${origin('SOCLE_SMTP_TLS')}`);
  // An upload, or for a read-only container the SOCLE_FILE_<n> variables socle-files writes out.
  const files = Object.keys(MAIL_SETTINGS_FILES).flatMap((file) => {
    const content = generatedFileOf(r.attrs as Parameters<typeof generatedFileOf>[0], file);
    return typeof content === 'string' ? [{ file, content }] : [];
  });
  for (const f of files) problems.push(...mailFileProblems(f.file, MAIL_SETTINGS_FILES[f.file](f.content), relay));
  const hasMailSettings = files.length > 0 || [...env.keys()].some((k) => [...MAIL_HOST_VARS, ...MAIL_PORT_VARS, ...MAIL_FROM_VARS].includes(k));
  if (problems.length === 0) return hasMailSettings ? COMPLIANT : NOT_APPLICABLE;
  return violation(problems.join('; '));
};
