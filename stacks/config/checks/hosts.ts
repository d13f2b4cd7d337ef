// The machines of a commune: each declared once, each reachable by an address services can bind.
import { isIPv4 } from 'node:net';
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';

export function hostIssues(src: SourceFile, city: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const hostNames: string[] = city.hosts.map((h: any) => h.name);
  city.hosts.forEach((h: any, i: number) => {
    if (hostNames.indexOf(h.name) !== i) issues.push(src.issue(['hosts', i, 'name'], 'a host name used once', `rename this host; "${h.name}" is already declared`, JSON.stringify(h.name)));
    const firstAddr = city.hosts.findIndex((o: any) => o.ssh.address === h.ssh.address);
    if (firstAddr !== i) issues.push(src.issue(['hosts', i, 'ssh', 'address'], 'one entry per machine', `hosts.${firstAddr} already has address ${h.ssh.address}; merge the two entries`, JSON.stringify(h.ssh.address)));
    if (h.privateAddress === undefined && !isIPv4(h.ssh.address)) {
      issues.push(src.issue(['hosts', i], 'a "privateAddress" (IPv4): the SSH address is a name, and published ports bind to an address', `add privateAddress: <IPv4 of ${h.name} on the city network>`, 'missing'));
    }
  });
  return issues;
}
