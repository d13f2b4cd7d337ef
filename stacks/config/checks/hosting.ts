// Who prepares the hosts (hosting): accounts that cannot clash with the ones Socle makes, and
// storage hosts named apart from the city's hosts (one Ansible inventory holds them all).
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';

export function hostingIssues(src: SourceFile, city: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const deployUsers = new Set<string>(city.hosts.map((h: any) => h.ssh.user));
  const targets: any[] = city.services.backup.enabled ? city.services.backup.targets ?? [] : [];
  const storageUsers = new Set<string>(targets.filter((t) => t.prepare).map((t) => t.user));
  const names: string[] = (city.hosting?.admins ?? []).map((a: any) => a.name);
  names.forEach((name, i) => {
    const at = ['hosting', 'admins', i, 'name'];
    if (name === 'root') issues.push(src.issue(at, 'a personal account: root never logs in over SSH', 'give the administrator\'s own account name, e.g. jdupont', JSON.stringify(name)));
    else if (deployUsers.has(name)) issues.push(src.issue(at, 'an account apart from the deploying user', `"${name}" is hosts[].ssh.user, the account Socle deploys with (its keys are the deploying machine's): give the administrator's own account`, JSON.stringify(name)));
    else if (storageUsers.has(name)) issues.push(src.issue(at, 'an account apart from the backup store\'s', `"${name}" is a backup target's SFTP user (SFTP only, no shell): give the administrator's own account`, JSON.stringify(name)));
    if (names.indexOf(name) !== i) issues.push(src.issue(at, 'each administrator once', `"${name}" is already listed: merge the keys into one entry`, JSON.stringify(name)));
  });
  const hostNames = new Set<string>(city.hosts.map((h: any) => h.name));
  targets.forEach((t, i) => {
    if (!t.prepare) return;
    if (!city.hosting) issues.push(src.issue(['services', 'backup', 'targets', i, 'prepare'], 'a hosting section: preparing a storage host needs its administrators', 'add hosting: { adminNetworks, admins, dns, ntp }, or drop prepare: true and prepare the store yourself', 'true'));
    if (hostNames.has(t.name)) issues.push(src.issue(['services', 'backup', 'targets', i, 'name'], 'a name apart from the hosts\': provision prepares it as a host of its own', `rename the target; "${t.name}" is a host under hosts`, JSON.stringify(t.name)));
  });
  return issues;
}
