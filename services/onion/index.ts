import { Construct } from 'constructs';
import { Lazy } from 'cdktf';
import { Platform, type INetwork, type IVolume } from '../common/platform.js';
import { ONION_ADDRESSES_PATH } from '../reverse-proxy/index.js';
import { renderFile } from '../common/template.js';

export interface OnionServiceProps {
  /** The proxy's network with a route out: Tor needs it to reach the Tor network. */
  readonly network: INetwork;
  /** The proxy's volume where Tor publishes each site's address (for its Onion-Location header). */
  readonly addresses: IVolume;
  /** Alias of the proxy on that network. @default 'proxy' */
  readonly proxyAlias?: string;
  /** Extra torrc lines (tests use `DisableNetwork 1`). @default none */
  readonly extraTorrc?: readonly string[];
  /** @default 128 */
  readonly memoryMiB?: number;
}

/**
 * Tor onion services in front of the proxy: citizens can participate over Tor. Off by default.
 * @stateful - onion keys (secret) on a volume, backed up: losing them loses the addresses
 */
export class OnionService extends Construct {
  private readonly sites: Array<{ service: string; proxyPort: number }> = [];

  constructor(scope: Construct, id: string, props: OnionServiceProps) {
    super(scope, id);
    const platform = Platform.of(this);
    const keys = platform.volume(this, { name: 'onion-keys', service: 'onion', category: 'secret', retention: 'tant que les adresses onion sont publiées', expectContent: true });
    const proxy = props.proxyAlias ?? 'proxy';
    // Tor's peers are relays anywhere on the internet: the one open flow, on a network of its own so
    // that the proxy's network stays closed.
    const torNetwork = platform.network(this, { name: 'onion-egress', tier: 'egress' });
    platform.allowEgress(torNetwork, { to: 'any', reason: 'the Tor network (relays on the internet), for the onion service' });
    const torrc = Lazy.stringValue({
      produce: () => renderFile(import.meta.url, './templates/torrc.tmpl', {
        extra: (props.extraTorrc ?? []).join('\n'),
        services: this.sites.map((s) => `HiddenServiceDir /var/lib/tor/onion/${s.service}\nHiddenServiceVersion 3\nHiddenServicePort 80 ${proxy}:${s.proxyPort}`).join('\n'),
      }),
    });
    platform.container(this, 'Resource', {
      service: 'onion',
      role: 'tor',
      image: 'tor',
      // Tor, and beside it the publisher of the addresses (never the keys) for the proxy.
      command: ['socle-tor'],
      // Its own route out first (the default route); the proxy's network only to reach the proxy.
      networks: [{ network: torNetwork }, { network: props.network }],
      volumes: [{ volume: keys, path: '/var/lib/tor' }, { volume: props.addresses, path: ONION_ADDRESSES_PATH }],
      uploads: [{ path: '/etc/socle/torrc', content: torrc }],
      user: 'debian-tor',
      tmpfs: { '/tmp': 16 },
      healthcheck: {
        // Tor alive (its pid file) and every onion address generated.
        test: ['CMD-SHELL', Lazy.stringValue({ produce: () => ['kill -0 "$(cat /tmp/tor.pid)"', ...this.sites.map((s) => `test -s /var/lib/tor/onion/${s.service}/hostname`)].join(' && ') })],
        startPeriodSec: 60,
      },
      memoryMiB: props.memoryMiB ?? 128,
    });
  }

  /** Publishes the proxy's `proxyPort` as the onion address of `service`. */
  public expose(service: string, proxyPort: number): void {
    this.sites.push({ service, proxyPort });
  }
}
