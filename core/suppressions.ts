import type { IConstruct } from 'constructs';

/** An accepted exception to a rule, with the reason auditors will read. */
export interface Suppression {
  /** Rule id, e.g. `Socle-NET1`. */
  readonly id: string;
  /** Why this is acceptable here: at least 10 characters. */
  readonly reason: string;
}

const METADATA_KEY = 'socle:suppressions';
export const MIN_REASON_LENGTH = 10;

/**
 * Suppresses rules on `scope` and everything below it. A suppression without a real reason is
 * refused: the point is that an auditor can read why.
 */
export function suppress(scope: IConstruct, suppressions: readonly Suppression[]): void {
  for (const s of suppressions) {
    if (!/^Socle-[A-Z]+[0-9]+$/.test(s.id)) {
      throw new Error(`suppression on ${scope.node.path}: "${s.id}" is not a rule id; use an id such as Socle-NET1, as printed by the policy report`);
    }
    if (s.reason.trim().length < MIN_REASON_LENGTH) {
      throw new Error(`suppression of ${s.id} on ${scope.node.path} needs a reason of at least ${MIN_REASON_LENGTH} characters, got "${s.reason}"; write why the exception is acceptable`);
    }
    scope.node.addMetadata(METADATA_KEY, { id: s.id, reason: s.reason.trim() });
  }
}

/** The suppression of `ruleId` that applies to `node` (set on it or on a parent), if any. */
export function findSuppression(node: IConstruct, ruleId: string): Suppression | undefined {
  for (const s of [node, ...node.node.scopes.slice().reverse()]) {
    for (const entry of s.node.metadata) {
      if (entry.type === METADATA_KEY && (entry.data as Suppression).id === ruleId) return entry.data as Suppression;
    }
  }
  return undefined;
}
