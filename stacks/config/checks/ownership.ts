// What the commune relies on must be its own: every public host name, the mail relay (name and
// address), the registry and every backup target lie under commune.owns (domains, networks), or
// are declared under externalParties with a reason. A provider missing from the deny list thus
// still does not pass: the deny list (third-parties.ts) is the second net, not the first.
import { MIN_REASON_LENGTH } from '../../../core/suppressions.js';
import type { ConfigIssue, Keys } from '../issues.js';
import type { SourceFile } from '../source.js';
import { PUBLIC_SERVICES } from '../defaults.js';
import { isEnabled } from './placement.js';

export type ExternalRole = 'registry' | 'mail-relay' | 'backup-storage' | 'public-hostname';

/** True when `host` is `domain` or one of its subdomains. */
export function isUnder(host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}

/** True when the mailbox `address` is in one of `domains` (or their subdomains). */
export function ownsAddress(domains: readonly string[], address: string): boolean {
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  return address.includes('@') && domains.some((d) => isUnder(domain, d));
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4ToNumber(address: string): number | undefined {
  const m = IPV4.exec(address);
  return m ? m.slice(1).reduce((n, octet) => n * 256 + Number(octet), 0) : undefined;
}

/** Whether `address` lies in `network`, an IPv4 address or prefix (`10.20.0.0/16`). */
export function inNetwork(address: string, network: string): boolean {
  const [base, length = '32'] = network.split('/');
  const a = ipv4ToNumber(address);
  const b = ipv4ToNumber(base);
  if (a === undefined || b === undefined) return false;
  const size = 2 ** (32 - Number(length));
  return Math.floor(a / size) === Math.floor(b / size);
}

/** A host as Socle reaches it: an IPv4 address (localhost is 127.0.0.1) or a DNS name. */
type Target = { readonly kind: 'address'; readonly value: string } | { readonly kind: 'name'; readonly value: string };

function targetOf(hostOrAddress: string): Target {
  const host = hostOrAddress.replace(/:\d+$/, '').toLowerCase();
  if (host === 'localhost') return { kind: 'address', value: '127.0.0.1' };
  return IPV4.test(host) ? { kind: 'address', value: host } : { kind: 'name', value: host };
}

interface Claim { readonly keys: Keys; readonly target: Target; readonly role: ExternalRole; readonly what: string }

/** The fields a role covers, for messages about a declaration that covers none. */
const ROLE_FIELDS: Readonly<Record<ExternalRole, string>> = {
  'registry': 'registry.host', 'mail-relay': 'mail.relay.host or mail.relay.address',
  'backup-storage': 'services.backup.targets[].host', 'public-hostname': 'services.*.hostname',
};

const FIELD_NAME: Readonly<Record<Target['kind'], string>> = { address: 'address', name: 'host' };

export function ownershipIssues(src: SourceFile, city: any, alreadyReported: ReadonlySet<string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const domains: string[] = city.commune.owns.domains;
  const networks: string[] = city.commune.owns.networks;
  const parties: any[] = city.externalParties ?? [];
  const ownedDomains = domains.join(', ');
  const ownedNetworks = networks.join(', ');

  if (!domains.some((d) => isUnder(city.domain, d))) {
    issues.push(src.issue(['domain'], `a domain under commune.owns.domains (${ownedDomains})`, `add ${city.domain} to commune.owns.domains if the commune owns it`, JSON.stringify(city.domain)));
  }
  if (!ownsAddress(domains, String(city.mail.from))) {
    issues.push(src.issue(['mail', 'from'], `a sender address in ${ownedDomains} (commune.owns.domains)`, `use an address such as ne-pas-repondre@${city.domain}`, JSON.stringify(city.mail.from)));
  }

  const claims: Claim[] = [
    { keys: ['registry', 'host'], target: targetOf(city.registry.host), role: 'registry', what: 'the image registry' },
    { keys: ['mail', 'relay', 'host'], target: targetOf(city.mail.relay.host), role: 'mail-relay', what: 'the mail relay' },
    { keys: ['mail', 'relay', 'address'], target: targetOf(city.mail.relay.address), role: 'mail-relay', what: 'the mail relay' },
  ];
  const hostNames = new Set(city.hosts.map((h: any) => h.name));
  (city.services.backup.targets ?? []).forEach((t: any, i: number) => {
    // A declared host is one of the commune's machines.
    if (!hostNames.has(t.host)) claims.push({ keys: ['services', 'backup', 'targets', i, 'host'], target: targetOf(t.host), role: 'backup-storage', what: 'a backup target' });
  });
  for (const name of PUBLIC_SERVICES) {
    const hostname = city.services[name].hostname;
    if (isEnabled(city, name) && hostname !== undefined) claims.push({ keys: ['services', name, 'hostname'], target: { kind: 'name', value: hostname }, role: 'public-hostname', what: `the public name of ${name}` });
  }

  const used = new Set<number>();
  for (const claim of claims) {
    const { kind, value } = claim.target;
    const owned = kind === 'name' ? domains.some((d) => isUnder(value, d)) : networks.some((n) => inNetwork(value, n));
    if (owned) continue;
    const party = parties.findIndex((p) => p.role === claim.role && (kind === 'name' ? p.host !== undefined && isUnder(value, p.host) : p.address !== undefined && inNetwork(value, p.address)));
    if (party >= 0) { used.add(party); continue; }
    if (alreadyReported.has(claim.keys.join('.'))) continue;
    const inside = kind === 'name' ? `a host name under ${ownedDomains} (commune.owns.domains)` : `an address inside ${ownedNetworks} (commune.owns.networks)`;
    const own = kind === 'name' ? 'commune.owns.domains' : 'commune.owns.networks';
    issues.push(src.issue(claim.keys, `${inside}, or a declared external party: ${claim.what} must be the commune's own`,
      `if the commune owns it, add its ${kind === 'name' ? 'domain' : 'prefix'} to ${own}; otherwise declare who runs it: externalParties: [{ name: <who>, ${FIELD_NAME[kind]}: ${value}, role: ${claim.role}, reason: <why, at least ${MIN_REASON_LENGTH} characters> }]`,
      JSON.stringify(value)));
  }

  parties.forEach((p, i) => {
    if (p.host === undefined && p.address === undefined) {
      issues.push(src.issue(['externalParties', i], 'a "host" or an "address": what the commune relies on', 'add host: <its DNS name> or address: <its IPv4 address or prefix>', 'missing'));
    } else if (p.reason.trim().length < MIN_REASON_LENGTH) {
      issues.push(src.issue(['externalParties', i, 'reason'], `a written reason of at least ${MIN_REASON_LENGTH} characters`, 'say why the commune relies on this party: auditors read it', JSON.stringify(p.reason)));
    } else if (!used.has(i)) {
      // A declaration that covers nothing would mislead an audit about who holds what.
      issues.push(src.issue(['externalParties', i], `a party that ${ROLE_FIELDS[p.role as ExternalRole]} points at (role ${p.role})`, `remove this entry, or check its ${p.host !== undefined ? 'host' : 'address'} and role against the field it is meant for`, JSON.stringify(p.host ?? p.address)));
    }
  });
  return issues;
}
