// Checks that need several fields at once, by topic, on a city file the schema accepted (with the
// schema's defaults filled in). The file's own values are reported, never derived ones.
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';
import { appEnvIssues } from './app-env.js';
import { backupIssues } from './backup.js';
import { hostIssues } from './hosts.js';
import { hostingIssues } from './hosting.js';
import { mailIssues } from './mail.js';
import { ownershipIssues } from './ownership.js';
import { placementIssues } from './placement.js';
import { policyIssues } from './policy.js';
import { secretIssues } from './secrets.js';
import { thirdPartyIssues } from './third-parties.js';
import { tlsIssues } from './tls.js';

export { portClaims, portIssues, type PortClaim } from './ports.js';
export { isUnder } from './ownership.js';

export function cityIssues(src: SourceFile, city: any): ConfigIssue[] {
  const denied = thirdPartyIssues(src, city);
  return [
    ...hostIssues(src, city),
    ...hostingIssues(src, city),
    ...placementIssues(src, city),
    ...secretIssues(src, city),
    ...appEnvIssues(src, city),
    ...policyIssues(src, city),
    ...backupIssues(src, city),
    ...mailIssues(src, city),
    ...tlsIssues(src, city),
    ...ownershipIssues(src, city, new Set(denied.map((i) => i.path))),
    ...denied,
  ];
}
