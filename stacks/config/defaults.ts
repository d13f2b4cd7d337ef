// Defaults have one home each. A constant default lives in city.schema.json (`default`), where the
// config reference shows it, and ajv fills it in; a default that depends on other fields (a path
// from the slug, the only host) is derived here, and the schema's description says so (@default).
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { validateCity } from './schema.js';
import type { CityConfig } from './types.js';

export const PLACED_SERVICES = ['proxy', 'consultation', 'limesurvey', 'matomo', 'onion'] as const;
export const PUBLIC_SERVICES = ['consultation', 'limesurvey', 'matomo'] as const;

/**
 * A copy of a valid city file with every schema default filled in, down to the optional blocks
 * the file left out (ajv fills defaults only inside objects that exist). Lists stay absent: the
 * checks still see whether the file gave one.
 */
export function withSchemaDefaults(raw: any): any {
  const data = structuredClone(raw);
  data.images ??= {};
  data.policy ??= {};
  data.services ??= {};
  for (const name of [...PLACED_SERVICES, 'backup']) data.services[name] ??= {};
  data.services.backup.retention ??= {};
  data.services.consultation.env ??= {};
  data.tls ??= {};
  data.state ??= {};
  for (const block of ['sending', 'dkim', 'dmarc'] as const) data.mail[block] ??= {};
  if (!validateCity(data)) throw new Error(`schema defaults made a valid city file invalid: ${JSON.stringify(validateCity.errors)}`);
  return data;
}

/** The domain mail is sent from: the domain of mail.from (its SPF, DKIM and DMARC records). */
export function sendingDomain(from: string): string {
  return from.slice(from.lastIndexOf('@') + 1).toLowerCase();
}

/** A path on the deploying machine as the city file writes it: relative to the file, `~/` for home. */
export function fromCityFile(cityFile: string, path: string): string {
  return resolve(dirname(resolve(cityFile)), path.replace(/^~(?=\/)/, homedir()));
}

/** The derived defaults, on a copy already holding the schema's (see withSchemaDefaults). */
export function withDerivedDefaults(defaulted: any, cityFile: string): Omit<CityConfig, 'file' | 'locate'> {
  const data = structuredClone(defaulted);
  data.externalParties ??= [];
  data.policy.suppressions ??= [];
  data.services.backup.targets ??= [];
  data.commune.securityContact ??= `mailto:${data.commune.email}`;
  data.mail.dmarc.reports ??= `dmarc@${sendingDomain(data.mail.from)}`;
  if (data.tls.mode === 'files') data.tls.files ??= { directory: `/etc/socle/tls/${data.commune.slug}` };
  // The consultation app's pin applies to whichever image it runs.
  const consultation = data.services.consultation;
  if (data.images.consultation) data.images[consultation.image ?? consultation.preset] ??= data.images.consultation;
  for (const h of data.hosts) h.privateAddress ??= h.ssh.address;
  // Paths on the deploying machine are written relative to the city file.
  for (const h of data.hosts) for (const key of ['knownHosts', 'identityFile'] as const) if (h.ssh[key]) h.ssh[key] = fromCityFile(cityFile, h.ssh[key]);
  if (data.state.directory) data.state.directory = resolve(dirname(resolve(cityFile)), data.state.directory);
  if (data.mail.relay.ca) data.mail.relay.ca = fromCityFile(cityFile, data.mail.relay.ca);
  for (const key of ['identityFile', 'ca'] as const) if (data.hosting?.[key]) data.hosting[key] = fromCityFile(cityFile, data.hosting[key]);
  for (const t of data.services.backup.targets ?? []) if (t.knownHosts) t.knownHosts = fromCityFile(cityFile, t.knownHosts);
  for (const name of PLACED_SERVICES) data.services[name].host ??= data.hosts[0].name;
  if (!data.services.backup.enabled) data.services.backup.targets = [];
  return data;
}
