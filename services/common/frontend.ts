import type { IConstruct } from 'constructs';
import { suppress } from '../../core/suppressions.js';
import type { ContainerSpec, INetwork, IPlatform } from './platform.js';
import type { SmtpSettings } from '../mail-gateway/index.js';
import type { ProxyRoute } from '../reverse-proxy/index.js';

/**
 * How the proxy reaches an app's front end. The app does not choose: the city's placement does.
 * - `network`: the proxy runs on the same host; the front end joins its internal frontend network.
 * - `published`: the proxy runs on another city host; the front end publishes one port, bound to
 *   this host's private address only.
 */
export type FrontendExposure =
  | { readonly kind: 'network'; readonly network: INetwork }
  | { readonly kind: 'published'; readonly address: string; readonly port: number; readonly proxyHost: string; readonly proxyAddress: string };

export interface FrontendAttachment {
  readonly networks: NonNullable<ContainerSpec['networks']>;
  readonly ports: NonNullable<ContainerSpec['ports']>;
  /** `host:port` for the proxy route. */
  readonly upstream: string;
  /** Call with the front-end container once created (records the published-port exception). */
  readonly finish: (container: IConstruct) => void;
}

export function attachFrontend(platform: IPlatform, scope: IConstruct, service: string, internalPort: number, exposure: FrontendExposure): FrontendAttachment {
  if (exposure.kind === 'network') {
    return {
      networks: [{ network: exposure.network, aliases: [`${service}-web`] }],
      ports: [],
      upstream: `${service}-web:${internalPort}`,
      finish: () => undefined,
    };
  }
  // Docker publishes ports only from non-internal networks: this one holds the front end alone.
  const published = platform.network(scope as any, { name: `${service}-published`, tier: 'egress' });
  return {
    networks: [{ network: published, aliases: [`${service}-web`] }],
    ports: [{ internal: internalPort, external: exposure.port, ip: exposure.address }],
    upstream: `${exposure.address}:${exposure.port}`,
    finish: (container) => suppress(container, [{
      id: 'Socle-NET1',
      reason: `cross-host upstream: bound to the private address ${exposure.address} only, for the proxy on host ${exposure.proxyHost}`,
    }]),
  };
}

/** What every proxied app takes from the city's placement. */
export interface WebAppProps {
  /** Mail settings, all pointing at the city's relay. */
  readonly smtp: SmtpSettings;
  /** How the proxy reaches the app's front end. */
  readonly exposure: FrontendExposure;
  /** Also served as an onion service on this proxy port. @default - clearnet only */
  readonly onionPort?: number;
}

/** What every proxied app gives back: its route for the proxy (the backups find its databases on the host). */
export interface IWebApp {
  readonly route: ProxyRoute;
}

/**
 * A Content-Security-Policy allowing the site's own origin only. Some apps need inline scripts or
 * eval: they get those, still from their own origin, never from a third party.
 */
export function ownOriginCsp(options: { readonly inlineScripts?: boolean; readonly inlineStyles?: boolean; readonly evalScripts?: boolean } = {}): string {
  const script = ["'self'", ...(options.inlineScripts ? ["'unsafe-inline'"] : []), ...(options.evalScripts ? ["'unsafe-eval'"] : [])].join(' ');
  const style = ["'self'", ...(options.inlineStyles ? ["'unsafe-inline'"] : [])].join(' ');
  const media = options.inlineScripts ? "'self' data: blob:" : "'self' data:";
  return `default-src 'self'; img-src ${media}; style-src ${style}; script-src ${script}; font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'self'; object-src 'none'`;
}
