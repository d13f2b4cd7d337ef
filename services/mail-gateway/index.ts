import { Construct } from 'constructs';
import { Platform, type INetwork } from '../common/platform.js';
import { renderFile } from '../common/template.js';
import { sendingDomain } from '../../stacks/config/defaults.js';

export interface MailGatewayProps {
  /** The relay's host name; apps connect to it by this name so its TLS certificate matches. */
  readonly hostname: string;
  /** The relay's IP address on the city network. */
  readonly address: string;
  /** @default 587 */
  readonly port?: number;
  /** @default 'starttls' */
  readonly security?: 'starttls' | 'tls';
  /** Account the apps authenticate as. */
  readonly user: string;
  /** Sender address, in the city's domain. */
  readonly from: string;
  /** Reference to the relay password (a sensitive variable). */
  readonly password: string;
  /** PEM of the city CA that signs the relay's certificate (mail.relay.ca). @default - a public CA */
  readonly ca?: string;
}

/** What an app needs to send mail: all of it points at the city's Zimbra. */
export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  readonly security: 'starttls' | 'tls';
  readonly user: string;
  readonly password: string;
  readonly from: string;
  /** Join this network (internal) to reach the relay; it gives no other route out. */
  readonly network: INetwork;
  /** PEM of the city CA that signs the relay's certificate, when not a public one. */
  readonly ca?: string;
  /** The sending domain (of `from`): a sender's container names itself in it (ContainerSpec.domain). */
  readonly domain: string;
}

/** Where a container that sends mail finds the city CA of the relay (relayTrust). */
export const RELAY_CA_PATH = '/etc/socle/mail/relay-ca.pem';

/**
 * What an app container needs to check the relay's certificate when the city's own CA signs it:
 * the CA as a file, and OpenSSL's SSL_CERT_FILE naming it (PHP's and Ruby's TLS read it). The
 * container then trusts that CA only: it talks TLS to nobody but the relay. Nothing when the
 * relay's certificate is from a public CA (the image's Debian bundle).
 */
export function relayTrust(smtp: SmtpSettings): { env: Record<string, string>; uploads: Array<{ path: string; content: string }> } {
  if (!smtp.ca) return { env: {}, uploads: [] };
  return { env: { SSL_CERT_FILE: RELAY_CA_PATH }, uploads: [{ path: RELAY_CA_PATH, content: smtp.ca }] };
}

/**
 * The gateway to the city's mail relay (its Zimbra): not a relay itself, a TCP forwarder. Apps sit
 * on an internal `mail` network where the relay's host name resolves to this gateway; the gateway alone has a route out, and forwards only to the relay's
 * address and port. So the apps can send mail through the city's server, and reach nothing else.
 */
export class MailGateway extends Construct {
  public readonly smtp: SmtpSettings;

  constructor(scope: Construct, id: string, props: MailGatewayProps) {
    super(scope, id);
    const platform = Platform.of(this);
    const port = props.port ?? 587;
    const mailNetwork = platform.network(this, { name: 'mail', tier: 'mail' });
    const egress = platform.network(this, { name: 'mail-egress', tier: 'egress' });
    platform.container(this, 'Resource', {
      service: 'mail',
      role: 'gateway',
      image: 'nginx',
      command: ['nginx', '-c', '/etc/socle/nginx.conf', '-g', 'daemon off;'],
      networks: [{ network: mailNetwork, aliases: [props.hostname] }, { network: egress }],
      bindsLowPorts: true,
      uploads: [{ path: '/etc/socle/nginx.conf', content: renderFile(import.meta.url, './templates/nginx-stream.conf.tmpl', { port, relayAddress: props.address }) }],
      tmpfs: { '/tmp': 16 },
      user: 'www-data',
      healthcheck: { test: ['CMD', 'curl', '--fail', '--silent', '--output', '/dev/null', 'http://127.0.0.1:8079/healthz'], startPeriodSec: 10 },
      memoryMiB: 64,
    });
    platform.allowEgress(egress, { to: props.address, port, reason: `the city's mail relay ${props.hostname}` });
    this.smtp = { host: props.hostname, port, security: props.security ?? 'starttls', user: props.user, password: props.password, from: props.from, network: mailNetwork, ca: props.ca, domain: sendingDomain(props.from) };
  }
}
