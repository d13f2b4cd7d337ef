// `npm run mail -- check`: can the apps send through the city's relay, safely? Step by step over
// a route (relay-route.ts): the banner, TLS (STARTTLS or implicit) with a certificate valid for the
// relay's host name before any credential is sent, authentication, and the size limit. Each step
// that fails says what to fix; a relay that offers no TLS never receives the password.
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { TLSSocket } from 'node:tls';
import type { RelayRoute } from './relay-route.js';

export interface RelaySettings {
  readonly host: string;
  readonly port: number;
  readonly security: 'starttls' | 'tls';
  readonly user: string;
  readonly password: string;
  /** PEM of the CA the relay's certificate chains to. @default the CAs Node trusts */
  readonly ca?: string;
}

export type CheckStep = 'connect' | 'tls' | 'auth' | 'limits';

export interface RelayCheck {
  readonly ok: boolean;
  readonly route: string;
  readonly banner?: string;
  readonly tls?: { readonly version: string; readonly cipher: string; readonly certificate: { readonly subject: string; readonly names: readonly string[]; readonly issuer: string; readonly validTo: string } };
  readonly auth?: { readonly user: string; readonly accepted: boolean; readonly methods: readonly string[] };
  readonly sizeLimitBytes?: number | null;
  readonly extensions?: readonly string[];
  /** The step that failed, what happened, and what to do. */
  readonly failure?: { readonly step: CheckStep; readonly message: string; readonly fix: string };
}

/** The options every connection to the relay uses, whatever the command: TLS required and checked. */
export function connectionOptions(route: RelayRoute, relay: RelaySettings, extra: Record<string, unknown> = {}) {
  return {
    host: route.host, port: route.port, secure: relay.security === 'tls', requireTLS: relay.security === 'starttls',
    // Names this client in EHLO; Zimbra logs it.
    name: 'socle-mail-check',
    tls: { servername: relay.host, rejectUnauthorized: true, minVersion: 'TLSv1.2' as const, ...(relay.ca ? { ca: relay.ca } : {}) },
    connectionTimeout: 20_000, greetingTimeout: 20_000, socketTimeout: 30_000,
    ...extra,
  };
}

function tlsFix(err: Error & { code?: string }, relay: RelaySettings): string {
  const m = err.message;
  if (/altnames|Hostname\/IP does not match/i.test(m)) return `the relay's certificate is not valid for ${relay.host}: have Zimbra serve a certificate naming ${relay.host} (zmcertmgr), or set mail.relay.host to a name the certificate has`;
  if (/self[- ]signed|unable to (get|verify)|certificate chain|UNABLE_TO/i.test(m)) return `the relay's certificate does not chain to a trusted CA: if the city signs it with its own CA, name that CA's PEM file in mail.relay.ca`;
  if (/expired/i.test(m)) return 'the relay\'s certificate has expired: renew it on Zimbra (zmcertmgr)';
  if (/STARTTLS/i.test(m)) return `the relay offers no STARTTLS on port ${relay.port}, so the password was not sent: enable TLS on Zimbra's submission port (zimbraMtaTlsSecurityLevel may), or use port 465 with mail.relay.security: tls`;
  if (/wrong version number|packet length too long|unknown protocol/i.test(m)) return relay.security === 'tls'
    ? `port ${relay.port} does not speak TLS at once: for STARTTLS on the submission port set mail.relay.security: starttls (port 587)`
    : `the relay answered TLS where plain SMTP was expected: for port 465 set mail.relay.security: tls`;
  return 'check the relay\'s TLS configuration (zmprov gs $(zmhostname) zimbraMtaTlsSecurityLevel) and mail.relay.port / security';
}

/** Runs the check over `route`; never throws for the relay's faults, they are in `failure`. */
export async function checkRelay(route: RelayRoute, relay: RelaySettings): Promise<RelayCheck> {
  const serverLines: string[] = [];
  const logger = {
    level: () => undefined,
    trace: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined,
    // Only what the server says is kept: what the client sends includes the credentials.
    debug: (entry: { tnx?: string }, message: string) => { if (entry?.tnx === 'server') serverLines.push(message); },
  };
  const connection = new SMTPConnection(connectionOptions(route, relay, { logger, transactionLog: true }) as SMTPConnection.Options);
  const report: { -readonly [K in keyof RelayCheck]: RelayCheck[K] } = { ok: false, route: route.description };
  const fail = (step: CheckStep, message: string, fix: string): RelayCheck => ({ ...report, ok: false, failure: { step, message, fix } });
  // connect() calls back on success only: a failure to connect or to secure the session is an
  // 'error' event (or the server closing). Later steps get their errors in their callbacks.
  let stepFailed: ((err: Error) => void) | undefined;
  connection.on('error', (err: Error) => stepFailed?.(err));
  connection.on('end', () => stepFailed?.(new Error('the server closed the connection')));
  try {
    try {
      await new Promise<void>((resolve, reject) => {
        stepFailed = reject;
        connection.connect((err?: Error) => (err ? reject(err) : resolve()));
      });
      stepFailed = undefined;
    } catch (err) {
      const e = err as Error & { code?: string };
      report.banner = serverLines.find((l) => /^220[ -]/.test(l));
      if (e.code === 'ETLS' || /certificate|altnames|self[- ]signed|STARTTLS|TLS|SSL/i.test(e.message)) {
        return fail('tls', `TLS with ${relay.host}:${relay.port} failed: ${e.message}`, tlsFix(e, relay));
      }
      const gone = route.lastFailure();
      return fail('connect', `no SMTP session with ${relay.host}:${relay.port} ${route.description}: ${e.message}${gone ? ` (${gone})` : ''}`,
        'check that the stack is deployed and its mail gateway healthy (npm run deploy -- --config FILE), that mail.relay.address and port are the relay\'s, and that the relay accepts connections from the Socle hosts (zimbraMtaMyNetworks)');
    }
    report.banner = serverLines.find((l) => /^220[ -]/.test(l))?.replace(/^220[ -]/, '');
    const socket = (connection as unknown as { _socket: TLSSocket })._socket;
    if (!connection.secure || typeof socket.getProtocol !== 'function') {
      // requireTLS / secure make nodemailer stop before this; a plain session here is a defect.
      return fail('tls', 'the session is not encrypted', 'the password was not sent; report this to Socle\'s maintainers');
    }
    const peer = socket.getPeerCertificate();
    report.tls = {
      version: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().name,
      certificate: {
        subject: String(peer.subject?.CN ?? ''), issuer: String(peer.issuer?.CN ?? peer.issuer?.O ?? ''), validTo: peer.valid_to,
        names: (peer.subjectaltname ?? '').split(/,\s*/).filter(Boolean).map((n) => n.replace(/^DNS:/, '')),
      },
    };
    const internals = connection as unknown as { _supportedAuth: string[]; _supportedExtensions: string[]; _maxAllowedSize: number };
    report.extensions = [...internals._supportedExtensions];
    report.sizeLimitBytes = internals._maxAllowedSize || null;
    try {
      await new Promise<void>((resolve, reject) => connection.login({ user: relay.user, pass: relay.password }, (err?: Error) => (err ? reject(err) : resolve())));
    } catch (err) {
      report.auth = { user: relay.user, accepted: false, methods: [...internals._supportedAuth] };
      const e = err as Error & { responseCode?: number };
      const fix = e.responseCode === 535 || /535|authentication failed|invalid credentials/i.test(e.message)
        ? `the relay refused ${relay.user}'s password: check the secret mail.relay.password names (and that the account exists: zmprov ga ${relay.user}), then deploy again so the apps get it too`
        : `the relay did not authenticate ${relay.user}: enable SMTP authentication on Zimbra's submission port (zimbraMtaSaslAuthEnable TRUE)`;
      return fail('auth', `authentication of ${relay.user} failed: ${e.message}`, fix);
    }
    report.auth = { user: relay.user, accepted: true, methods: [...internals._supportedAuth] };
    report.ok = true;
    return { ...report };
  } finally {
    try { connection.quit(); } catch { /* already closed */ }
    connection.close();
  }
}

/** The check in words, in English for the operator's terminal (the commands speak English). */
export function relayCheckText(r: RelayCheck, relay: { host: string; port: number; security: string }): string {
  const lines = [`relay ${relay.host}:${relay.port} (${relay.security}), ${r.route}`];
  if (r.banner) lines.push(`  banner       ${r.banner}`);
  if (r.tls) {
    lines.push(`  TLS          ${r.tls.version}, ${r.tls.cipher}`);
    lines.push(`  certificate  ${r.tls.certificate.subject || '(no CN)'} [${r.tls.certificate.names.join(', ')}], issued by ${r.tls.certificate.issuer}, valid to ${r.tls.certificate.validTo}`);
  }
  if (r.sizeLimitBytes !== undefined) lines.push(`  size limit   ${r.sizeLimitBytes ? `${(r.sizeLimitBytes / 1048576).toFixed(1)} MiB (${r.sizeLimitBytes} bytes)` : 'none announced'}`);
  if (r.auth) lines.push(`  auth         ${r.auth.user}: ${r.auth.accepted ? 'accepted' : 'REFUSED'} (offered: ${r.auth.methods.join(', ') || 'none'})`);
  if (r.failure) {
    lines.push(`FAILED at ${r.failure.step}: ${r.failure.message}`);
    lines.push(`  fix: ${r.failure.fix}`);
  } else lines.push('ok: the apps can send through the city\'s relay');
  return `${lines.join('\n')}\n`;
}
