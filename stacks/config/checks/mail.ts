// Mail: Socle's own alerts reach a person at the city, and a relay signed by the city's own CA is
// trusted by naming that CA, never by turning certificate checks off.
import { existsSync, readFileSync } from 'node:fs';
import { fromCityFile } from '../defaults.js';
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';
import { ownsAddress } from './ownership.js';

export function mailIssues(src: SourceFile, city: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const alerts: string[] = city.mail.alerts ?? [];
  const domains: string[] = city.commune.owns.domains;
  if (city.services.backup.enabled && alerts.length === 0) {
    issues.push(src.issue(['mail', 'alerts'], 'at least one address: who is told when a backup night fails or a restore drill reports',
      `add alerts: [dsi@${city.domain}] under mail (a mailbox someone reads), or set services.backup.enabled: false`, 'missing'));
  }
  alerts.forEach((address, i) => {
    if (!ownsAddress(domains, address)) {
      issues.push(src.issue(['mail', 'alerts', i], `an address in ${domains.join(', ')} (commune.owns.domains): alerts describe the city's backups and stay in its mail`,
        `use a city mailbox such as dsi@${city.domain}, or add its domain to commune.owns.domains if the commune owns it`, JSON.stringify(address)));
    }
  });
  // DMARC reports say who sends as the city and from where: they go to a city mailbox.
  const reports: string | undefined = city.mail.dmarc?.reports;
  if (reports !== undefined && !ownsAddress(domains, reports)) {
    issues.push(src.issue(['mail', 'dmarc', 'reports'], `an address in ${domains.join(', ')} (commune.owns.domains): DMARC reports list who sends mail as the city, and stay in its mail`,
      `use a city mailbox such as dmarc@${city.domain}, or remove reports to use dmarc@ the sending domain`, JSON.stringify(reports)));
  }
  const ca: string | undefined = city.mail.relay.ca;
  if (ca !== undefined) {
    const file = fromCityFile(src.name, ca);
    const pem = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (pem === undefined) {
      issues.push(src.issue(['mail', 'relay', 'ca'], 'a PEM file of the CA that signs the relay\'s certificate (relative to the city file)', `put the city CA's certificate at ${file}, or remove ca to trust the CAs Debian trusts`, JSON.stringify(ca)));
    } else if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      issues.push(src.issue(['mail', 'relay', 'ca'], 'a PEM file holding at least one certificate (-----BEGIN CERTIFICATE-----)', `export the CA certificate in PEM (openssl x509 -in CA.der -inform der -out ${file})`, JSON.stringify(ca)));
    }
  }
  return issues;
}
