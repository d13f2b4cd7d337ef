// The rule that turns a typed invitation code into the code LimeSurvey stores, read from the
// JSON file the LimeSurvey plugin reads too (SocleInvitationCodes/code-rule.json): one
// definition for PHP and TypeScript. code-rule.test.ts checks it against invitations/codes.ts.
import { readFileSync } from 'node:fs';

export interface CodeRule {
  readonly format: 'socle-code-rule/1';
  /** The characters of a code: must equal invitations/codes.ts ALPHABET. */
  readonly alphabet: string;
  /** Characters a citizen may type between groups; dropped. */
  readonly separators: readonly string[];
  /** A letter left out of the alphabet → the character of the alphabet it is mistaken for. */
  readonly lookalikes: Readonly<Record<string, string>>;
}

const CODE_RULE_FILE = new URL('./SocleInvitationCodes/code-rule.json', import.meta.url);
export const CODE_RULE = JSON.parse(readFileSync(CODE_RULE_FILE, 'utf8')) as CodeRule;

/** What the plugin does with a typed code: the stored form, or null when it cannot be a Socle code. */
export function canonicalTypedCode(typed: string, rule: CodeRule = CODE_RULE): string | null {
  let code = typed;
  for (const s of rule.separators) code = code.split(s).join('');
  // ASCII only, as PHP's strtoupper: toUpperCase would turn ſ into S, which PHP leaves alone.
  code = [...code.replace(/[a-z]/g, (c) => c.toUpperCase())].map((c) => rule.lookalikes[c] ?? c).join('');
  return code !== '' && [...code].every((c) => rule.alphabet.includes(c)) ? code : null;
}
