// Which service runs where: every placement names a declared host, the onion service sits with
// the proxy, and every enabled public service has a host name of its own.
import { nearest, type ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';
import { PLACED_SERVICES, PUBLIC_SERVICES } from '../defaults.js';

/** Whether a service of the (schema-defaulted) city file runs. */
export function isEnabled(city: any, name: string): boolean {
  return name === 'proxy' || city.services[name].enabled === true;
}

export function placementIssues(src: SourceFile, city: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const services = city.services;
  const hostNames: string[] = city.hosts.map((h: any) => h.name);
  const declaredHosts = `one of the declared hosts: ${hostNames.join(', ')}`;
  for (const name of PLACED_SERVICES) {
    if (!isEnabled(city, name)) continue;
    const host = services[name].host;
    if (host === undefined) {
      if (hostNames.length > 1) issues.push(src.issue(['services', name], `a "host" field: several hosts are declared (${hostNames.join(', ')})`, `add host: ${hostNames[0]} (or the host that should run ${name})`, 'missing'));
    } else if (!hostNames.includes(host)) {
      const guess = nearest(host, hostNames);
      issues.push(src.issue(['services', name, 'host'], declaredHosts, guess ? `did you mean "${guess}"?` : 'declare the host under hosts, or use one of the listed names', JSON.stringify(host)));
    }
  }
  const storeHost = services.backup.store?.host;
  if (storeHost !== undefined && !hostNames.includes(storeHost)) {
    issues.push(src.issue(['services', 'backup', 'store', 'host'], declaredHosts, 'declare the storage host under hosts, or use one of the listed names', JSON.stringify(storeHost)));
  }
  const proxyHost = services.proxy.host ?? hostNames[0];
  if (isEnabled(city, 'onion') && (services.onion.host ?? hostNames[0]) !== proxyHost) {
    issues.push(src.issue(['services', 'onion', 'host'], `the proxy's host (${proxyHost})`, 'place the onion service on the same host as the proxy', JSON.stringify(services.onion.host)));
  }

  const seenHostnames = new Map<string, string>();
  for (const name of PUBLIC_SERVICES) {
    if (!isEnabled(city, name)) continue;
    const hostname = services[name].hostname;
    if (hostname === undefined) {
      issues.push(src.issue(['services', name], `a "hostname" field: ${name} is enabled`, `add hostname: ${name === 'consultation' ? 'participer' : name}.${city.domain}, or set enabled: false`, 'missing'));
      continue;
    }
    if (seenHostnames.has(hostname)) issues.push(src.issue(['services', name, 'hostname'], 'a host name used by one service only', `services.${seenHostnames.get(hostname)} already uses it; pick another name`, JSON.stringify(hostname)));
    seenHostnames.set(hostname, name);
  }
  return issues;
}
