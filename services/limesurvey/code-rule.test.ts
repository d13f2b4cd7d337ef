// The code rule is written once (plugins/SocleInvitationCodes/code-rule.json) and read by both the
// LimeSurvey plugin (PHP) and TypeScript: its alphabet must be the one invitations/codes.ts draws
// codes from, a look-alike may only turn a character the alphabet leaves out into one it has, and
// the PHP canonicaliser must give what TypeScript gives. The PHP part runs when a php command is
// installed (it is in Socle's LimeSurvey image; the engine tests cover the plugin in LimeSurvey).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ALPHABET, LOOKALIKES, canonicalCode, formatCode, generateCodes } from '../../invitations/codes.js';
import { CODE_RULE, canonicalTypedCode } from './plugins/code-rule.js';

const RULE_PHP = fileURLToPath(new URL('./plugins/SocleInvitationCodes/SocleCodeRule.php', import.meta.url));
const hasPhp = spawnSync('php', ['-v']).status === 0;

function phpCanonical(inputs: readonly string[]): (string | null)[] {
  const script = `require ${JSON.stringify(RULE_PHP)}; $r = SocleCodeRule::load(); $out = []; foreach (json_decode(stream_get_contents(STDIN), true) as $t) { $out[] = $r->canonical($t); } echo json_encode($out);`;
  const r = spawnSync('php', ['-r', script], { input: JSON.stringify(inputs), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as (string | null)[];
}

const codes = generateCodes(200, 12);
/** What citizens type: as printed, lower case, spaces instead of dashes, look-alikes. */
const typed = codes.flatMap((c) => [
  c,
  formatCode(c),
  formatCode(c).toLowerCase(),
  ` ${formatCode(c).replace(/-/g, ' ')} `,
  formatCode(c).replace(/V/g, 'U').replace(/2/g, 'z'),
  c.replace(/(.{4})/g, '$1\u00a0'),
]);
const strangers = ['', '   ', 'aBc_~dEf', 'HELLO', 'O0O0-1I1L', 'ſ2345', 'ABC€DEF', '2345\u00ad678'];

describe('the invitation code rule shared by the LimeSurvey plugin and TypeScript', () => {
  it('has the alphabet of invitations/codes.ts', () => {
    expect(CODE_RULE.format).toBe('socle-code-rule/1');
    expect(CODE_RULE.alphabet).toBe(ALPHABET);
  });

  it('maps only characters the alphabet leaves out, each to one it has', () => {
    for (const [from, to] of Object.entries(CODE_RULE.lookalikes)) {
      expect(ALPHABET.includes(from), `${from} is in the alphabet: mapping it would change valid codes`).toBe(false);
      expect(ALPHABET.includes(to), `${from} → ${to}: ${to} is not in the alphabet`).toBe(true);
    }
    // 0/O and 1/I/L are all left out of the alphabet: none of them has a target to map to.
    for (const c of '0O1IL') expect(CODE_RULE.lookalikes[c]).toBeUndefined();
    expect(CODE_RULE.lookalikes).toEqual(LOOKALIKES);
  });

  it('drops at least the separators canonicalCode drops, and no alphabet character', () => {
    for (const s of [' ', '\t', '-', '_', '.']) expect(CODE_RULE.separators).toContain(s);
    for (const s of CODE_RULE.separators) {
      expect(ALPHABET.includes(s)).toBe(false);
      if (/[\s\-_.]/.test(s)) expect(canonicalCode(`AB${s}C`)).toBe('ABC');
    }
  });

  it('turns what citizens type back into the code, as canonicalCode does where both apply', () => {
    for (let i = 0; i < typed.length; i++) expect(canonicalTypedCode(typed[i])).toBe(codes[Math.floor(i / 6)]);
    for (const t of typed) expect(canonicalTypedCode(t)).toBe(canonicalCode(t));
    for (const s of strangers) expect(canonicalTypedCode(s)).toBeNull();
  });

  it.skipIf(!hasPhp)('gives in PHP (the plugin) exactly what it gives in TypeScript', () => {
    const inputs = [...typed, ...strangers];
    expect(phpCanonical(inputs)).toEqual(inputs.map((t) => canonicalTypedCode(t)));
  });
});
