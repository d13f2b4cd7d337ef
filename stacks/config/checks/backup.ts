// Backups: a key the city holds, and somewhere on city storage to write to.
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';

export function backupIssues(src: SourceFile, city: any): ConfigIssue[] {
  const backup = city.services.backup;
  if (!backup.enabled) return [];
  const issues: ConfigIssue[] = [];
  if (!backup.password) issues.push(src.issue(['services', 'backup'], 'a "password" reference: the restic repository key the city holds', 'add password: { env: SOCLE_RESTIC_PASSWORD }, or set enabled: false', 'missing'));
  if (!backup.targets && !backup.store) issues.push(src.issue(['services', 'backup'], 'at least one target on city storage ("targets" or "store")', 'add targets: [{ name: nas, host: nas.<domain>, user: restic, path: /srv/restic }], or a store on a declared host', 'missing'));
  return issues;
}
