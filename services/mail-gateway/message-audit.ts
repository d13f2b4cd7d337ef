// What a message that reached a mailbox proves about the way it went: every Received hop is a city
// host (a name under commune.owns.domains or an address in commune.owns.networks), From,
// Return-Path and Message-ID are in the city's domains, the relay's DKIM signature verifies, and
// the link sent is the link received (no click tracking rewrote it). The audit the citizen audit
// could not make of the Mandrill letters.
import { createRequire } from 'node:module';
import { promises as dns } from 'node:dns';
import type { dkimVerify as DkimVerify } from 'mailauth';
import { inNetwork, isUnder } from '../../stacks/config/checks/ownership.js';

// mailauth's main entry point fails to load on Node 20; its DKIM verifier alone loads (and is
// the one place Socle loads it: the test MTA's own test verifies with it too).
export const { dkimVerify } = createRequire(import.meta.url)('mailauth/lib/dkim/verify') as { dkimVerify: typeof DkimVerify };

export interface AuditPolicy {
  readonly domains: readonly string[];
  readonly networks: readonly string[];
  /** The one link the message carried, to be found unchanged. @default no link check */
  readonly expectedLink?: string;
  /** DKIM public keys by `selector._domainkey.domain`, used instead of DNS (before the record is published). */
  readonly dkimRecords?: Readonly<Record<string, string>>;
}

export interface Hop { readonly from?: string; readonly fromAddress?: string; readonly by?: string; readonly raw: string; readonly city: boolean }
export interface AuditFinding { readonly check: 'received' | 'from' | 'return-path' | 'message-id' | 'dkim' | 'link'; readonly ok: boolean; readonly detail: string }
export interface MessageAudit { readonly ok: boolean; readonly hops: readonly Hop[]; readonly findings: readonly AuditFinding[] }

/** The message's header fields, unfolded, in order, names lower-cased. */
export function headerFields(raw: string): Array<[string, string]> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0];
  const fields: Array<[string, string]> = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1][1] += ` ${line.trim()}`;
    else {
      const i = line.indexOf(':');
      if (i > 0) fields.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
    }
  }
  return fields;
}

const domainOf = (address: string) => (address.match(/@([A-Za-z0-9.-]+)/)?.[1] ?? '').toLowerCase();

/** One Received field's parties: `from <helo> (<rdns> [<ip>]) by <host>`. */
export function parseReceived(value: string, policy: Pick<AuditPolicy, 'domains' | 'networks'>): Hop {
  const from = value.match(/\bfrom\s+([^\s;()]+)/i)?.[1]?.toLowerCase();
  const fromAddress = value.match(/\[(?:IPv6:)?([0-9a-fA-F:.]+)\]/)?.[1];
  const by = value.match(/\bby\s+([^\s;()]+)/i)?.[1]?.toLowerCase();
  const cityName = (n?: string) => n !== undefined && policy.domains.some((d) => isUnder(n, d));
  // Loopback is the receiving host handing the message to itself (Zimbra's content filter, LMTP).
  const cityAddress = (a?: string) => a !== undefined && (a === '::1' || (a.includes('.') && [...policy.networks, '127.0.0.0/8'].some((n) => inNetwork(a, n))));
  // The receiving side must be a city host; the sending side is known by its address (a Socle
  // host's HELO is a container's name), or, for a local hand-over without address, by its name.
  const fromIsCity = fromAddress !== undefined ? cityAddress(fromAddress) : (from === undefined || cityName(from) || from === 'localhost');
  return { from, fromAddress, by, raw: value, city: cityName(by) && fromIsCity };
}

async function dkimOf(raw: string, policy: AuditPolicy): Promise<AuditFinding> {
  const records = policy.dkimRecords;
  const resolver = records
    ? async (name: string, type: string) => {
      const value = type === 'TXT' ? records[name.toLowerCase()] : undefined;
      if (value !== undefined) return [[value]];
      throw Object.assign(new Error(`no ${type} record for ${name} in the records given`), { code: 'ENOTFOUND' });
    }
    : async (name: string, type: string) => dns.resolve(name, type as 'TXT');
  const verified = await dkimVerify(Buffer.from(raw), { resolver });
  const results = verified.results ?? [];
  const city = results.filter((r) => policy.domains.some((d) => isUnder(String(r.signingDomain ?? ''), d)));
  const passed = city.filter((r) => r.status?.result === 'pass');
  if (passed.length) return { check: 'dkim', ok: true, detail: `DKIM pass for ${passed.map((r) => `d=${r.signingDomain} s=${r.selector}`).join(', ')}` };
  if (!results.length || results.every((r) => r.status?.result === 'none')) return { check: 'dkim', ok: false, detail: 'no DKIM signature: have Zimbra sign the sending domain (zmdkimkeyutil -a -d DOMAIN, see npm run mail -- records)' };
  return { check: 'dkim', ok: false, detail: `DKIM did not pass: ${results.map((r) => `d=${r.signingDomain} s=${r.selector} ${r.status?.result}${r.status?.comment ? ` (${r.status.comment})` : ''}`).join('; ')}: publish the selector record Zimbra printed (npm run mail -- records), or pass it with --dkim-record before it is published` };
}

/** Audits one raw message (RFC 822, as delivered). */
export async function auditMessage(raw: string, policy: AuditPolicy): Promise<MessageAudit> {
  const fields = headerFields(raw);
  const all = (name: string) => fields.filter(([n]) => n === name).map(([, v]) => v);
  const inCity = (domain: string) => domain !== '' && policy.domains.some((d) => isUnder(domain, d));
  const findings: AuditFinding[] = [];
  const hops = all('received').map((v) => parseReceived(v, policy));
  const foreign = hops.filter((h) => !h.city);
  findings.push(hops.length === 0
    ? { check: 'received', ok: false, detail: 'no Received field: this is not a message as delivered (save it from the mailbox with its full headers)' }
    : foreign.length
      ? { check: 'received', ok: false, detail: `${foreign.length} of ${hops.length} hops are not city hosts: ${foreign.map((h) => `from ${h.from ?? '?'}${h.fromAddress ? ` [${h.fromAddress}]` : ''} by ${h.by ?? '?'}`).join('; ')}: the message went through a relay outside the city` }
      : { check: 'received', ok: true, detail: `${hops.length} hops, all city hosts: ${hops.map((h) => h.by).join(' <- ')}` });
  for (const [check, name] of [['from', 'from'], ['return-path', 'return-path'], ['message-id', 'message-id']] as const) {
    const values = all(name);
    const domain = values.length ? domainOf(values[0]) : '';
    findings.push(values.length === 0
      ? { check, ok: false, detail: `no ${name} field` }
      : { check, ok: inCity(domain), detail: `${name}: ${values[0]}${inCity(domain) ? '' : ` (${domain || 'no domain'} is not in ${policy.domains.join(', ')})`}` });
  }
  findings.push(await dkimOf(raw, policy));
  if (policy.expectedLink) {
    const body = raw.slice(raw.search(/\r?\n\r?\n/)).replace(/=\r?\n/g, '');
    const links = [...new Set(body.match(/https?:\/\/[^\s"'<>)]+/g) ?? [])];
    const others = links.filter((l) => l !== policy.expectedLink);
    findings.push(links.includes(policy.expectedLink) && others.length === 0
      ? { check: 'link', ok: true, detail: `the link arrived unchanged: ${policy.expectedLink}` }
      : { check: 'link', ok: false, detail: `the link sent was ${policy.expectedLink}; the message holds ${links.join(', ') || 'no link'}: something on the way rewrote it (click tracking)` });
  }
  return { ok: findings.every((f) => f.ok), hops, findings };
}

export function messageAuditText(a: MessageAudit): string {
  return `${a.findings.map((f) => `  ${f.ok ? 'ok    ' : 'FAILED'} ${f.check.padEnd(12)} ${f.detail}`).join('\n')}\n${a.ok ? 'ok: the message went through city hosts only, in the city\'s name' : 'FAILED: see the lines above'}\n`;
}
