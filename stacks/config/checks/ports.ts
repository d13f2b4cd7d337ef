// Published (address, port) pairs: no two claims on one machine may collide, within a commune or
// across the communes of a directory sharing a host. Values are the schema-defaulted ones.
import type { ConfigIssue, Keys } from '../issues.js';
import type { SourceFile } from '../source.js';
import { PUBLIC_SERVICES } from '../defaults.js';
import { isEnabled } from './placement.js';

export interface PortClaim { readonly src: SourceFile; readonly keys: Keys; readonly machine: string; readonly bind: string; readonly port: number; readonly what: string }

const ANY_ADDRESS = '0.0.0.0';

export function portClaims(src: SourceFile, city: any): PortClaim[] {
  const byName = new Map<string, any>(city.hosts.map((h: any) => [h.name, h]));
  const hostOf = (name?: string) => (name ? byName.get(name) : city.hosts[0]);
  const slug = city.commune.slug;
  const proxy = city.services.proxy;
  const proxyMachine = hostOf(proxy.host)?.ssh.address ?? '?';
  // SSH first: a clash is reported on the port the user chose, not on the SSH port already there.
  const claims: PortClaim[] = city.hosts.map((h: any, i: number) => ({ src, keys: ['hosts', i, 'ssh', 'port'], machine: h.ssh.address, bind: ANY_ADDRESS, port: h.ssh.port, what: `SSH of ${h.name}` }));
  claims.push(
    { src, keys: ['services', 'proxy', 'httpPort'], machine: proxyMachine, bind: proxy.bindAddress, port: proxy.httpPort, what: `${slug} proxy HTTP` },
    { src, keys: ['services', 'proxy', 'httpsPort'], machine: proxyMachine, bind: proxy.bindAddress, port: proxy.httpsPort, what: `${slug} proxy HTTPS` },
  );
  for (const app of PUBLIC_SERVICES) {
    const svc = city.services[app];
    const appHost = hostOf(svc.host);
    if (!isEnabled(city, app) || !appHost || appHost.ssh.address === proxyMachine) continue;
    // On another host than the proxy, the app publishes its upstream port on the private address.
    claims.push({ src, keys: ['services', app, 'upstreamPort'], machine: appHost.ssh.address, bind: appHost.privateAddress ?? appHost.ssh.address, port: svc.upstreamPort, what: `${slug} ${app} upstream` });
  }
  const store = city.services.backup.store;
  const storeHost = store && byName.get(store.host);
  if (storeHost && city.services.backup.enabled) {
    claims.push({ src, keys: ['services', 'backup', 'store', 'port'], machine: storeHost.ssh.address, bind: storeHost.privateAddress ?? storeHost.ssh.address, port: store.port, what: `${slug} backup store SFTP` });
  }
  return claims;
}

function overlaps(a: PortClaim, b: PortClaim): boolean {
  return a.machine === b.machine && a.port === b.port && (a.bind === b.bind || a.bind === ANY_ADDRESS || b.bind === ANY_ADDRESS);
}

export function portIssues(claims: readonly PortClaim[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  claims.forEach((c, i) => {
    const clash = claims.slice(0, i).find((o) => overlaps(o, c) && !(o.what.startsWith('SSH') && c.what.startsWith('SSH')));
    if (clash) {
      const fix = c.src === clash.src ? `port ${c.port} is already taken by ${clash.what}; choose another port`
        : `port ${c.port} is already taken by ${clash.what} (${clash.src.name}); choose another port, or give this commune its own bindAddress`;
      issues.push(c.src.issue(c.keys, `a port free on ${c.machine} (${c.bind})`, fix, String(c.port)));
    }
  });
  return issues;
}
