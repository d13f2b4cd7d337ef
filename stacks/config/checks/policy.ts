// Exceptions to the policy pack: each one with a reason an auditor can read.
import { MIN_REASON_LENGTH } from '../../../core/suppressions.js';
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';

export function policyIssues(src: SourceFile, city: any): ConfigIssue[] {
  return (city.policy.suppressions ?? []).flatMap((s: any, i: number) => s.reason.trim().length < MIN_REASON_LENGTH
    ? [src.issue(['policy', 'suppressions', i, 'reason'], `a written reason of at least ${MIN_REASON_LENGTH} characters`, 'say why the exception is acceptable: auditors read it', JSON.stringify(s.reason))]
    : []);
}
