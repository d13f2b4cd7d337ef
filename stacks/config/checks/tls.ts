// Certificates. The schema knows `acme`, and the proxy construct can declare an ACME client, but
// no image of it is built nor run anywhere yet: a city file asking for it would deploy a proxy
// without certificates. Refused until it exists.
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';

export function tlsIssues(src: SourceFile, city: any): ConfigIssue[] {
  if (city.tls.mode !== 'acme') return [];
  return [src.issue(['tls', 'mode'], 'tls.mode: files (ACME is not available yet: Socle neither builds nor runs an ACME client)',
    `use tls.mode: files with the certificate from the city's certificate authority (or the one it bought): fullchain.pem and privkey.pem in /etc/socle/tls/${city.commune.slug} on the proxy host, or the directory given in tls.files.directory`, '"acme"')];
}
