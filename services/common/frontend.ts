import type { IConstruct } from 'constructs';
import { suppress } from '../../stacks/policy/suppressions.js';
import type { ContainerSpec, INetwork, IPlatform } from './platform.js';

/**
 * How the proxy reaches an app's front end. The app does not choose: the city's placement does.
 * - `network`: the proxy runs on the same host; the front end joins its internal frontend network.
 * - `published`: the proxy runs on another city host; the front end publishes one port, bound to
 *   this host's private address only.
 */
export type FrontendExposure =
  | { readonly kind: 'network'; readonly network: INetwork }
  | { readonly kind: 'published'; readonly address: string; readonly port: number; readonly proxyHost: string };

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
