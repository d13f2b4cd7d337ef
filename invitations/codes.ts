// Invitation codes: the alphabet, the check character, how long a code must be, and how codes
// are drawn. A code is its random characters followed by one check character; it is printed in
// groups (ABCDE-FGHJ-KMNP) and accepted with or without separators, in any case.
import { secureDigits } from './random.js';

/**
 * 29 characters without look-alikes: no 0 or O, no 1, I or L, no U (read as V), no Z (read as 2).
 * 29 is prime, which is what lets the check character catch every error described below.
 */
export const ALPHABET = '23456789ABCDEFGHJKMNPQRSTVWXY';
const RADIX = ALPHABET.length;
/** Letters left out of the alphabet that a citizen may type for the character they look like. */
export const LOOKALIKES: Readonly<Record<string, string>> = { U: 'V', Z: '2' };
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

/**
 * Weighted sum modulo 29, weight L-i for the character at index i of a code of length L (the check
 * character, last, weighs 1). A valid code sums to 0. Changing one character changes the sum by
 * w·d with w and d both in 1..28, never a multiple of the prime 29: every substitution is caught.
 * Swapping two characters changes it by (wi-wj)·(vj-vi), also never 0 while all weights differ,
 * that is while the code is at most 28 characters long: every transposition is caught, adjacent
 * or not.
 */
export const MAX_CODE_LENGTH = RADIX - 1;

function weightedSum(values: readonly number[], length: number): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (length - i) * values[i];
  return sum % RADIX;
}

/** The check character for the random part of a code. */
export function checkCharacter(body: string): string {
  const values = [...body].map((c) => {
    const v = VALUE.get(c);
    if (v === undefined) throw new RangeError(`"${c}" is not in the code alphabet`);
    return v;
  });
  return ALPHABET[(RADIX - weightedSum(values, body.length + 1)) % RADIX];
}

/** What a citizen typed, as LimeSurvey stores it: no spaces or dashes, upper case, look-alikes read as printed. */
export function canonicalCode(typed: string): string {
  return [...typed.replace(/[\s\-_.]/g, '').toUpperCase()].map((c) => LOOKALIKES[c] ?? c).join('');
}

/** True when `typed` (any case, with or without separators) is a well-formed code whose check holds. */
export function isValidCode(typed: string, length?: number): boolean {
  const code = canonicalCode(typed);
  if (code.length < 2 || (length !== undefined && code.length !== length)) return false;
  const values: number[] = [];
  for (const c of code) {
    const v = VALUE.get(c);
    if (v === undefined) return false;
    values.push(v);
  }
  return weightedSum(values, code.length) === 0;
}

/** Groups of at most 5, larger groups first: 13 characters print as 5-4-4, 12 as 4-4-4. */
export function formatCode(code: string): string {
  const groups = Math.ceil(code.length / 5);
  const base = Math.floor(code.length / groups);
  const longer = code.length % groups;
  const parts: string[] = [];
  let at = 0;
  for (let g = 0; g < groups; g++) {
    const size = base + (g < longer ? 1 : 0);
    parts.push(code.slice(at, at + size));
    at += size;
  }
  return parts.join('-');
}

/**
 * Chance that an attacker who tries `guesses` distinct random codes hits at least one of `count`
 * valid codes among `space` possible ones (the check character adds nothing: an attacker only
 * tries well-formed codes). log1p/expm1 keep it exact for tiny and huge values alike.
 */
export function hitProbability(count: number, space: number, guesses: number): number {
  if (count >= space) return 1;
  return -Math.expm1(guesses * Math.log1p(-count / space));
}

export interface CodeLengthOptions {
  /** Number of valid codes at once (all printed codes). */
  readonly count: number;
  /** Attempts an attacker can make before the survey closes (rate limits, time). */
  readonly guesses: number;
  /** Highest acceptable chance that those attempts hit a valid code. */
  readonly maxOdds: number;
}

export interface CodeLength {
  /** Random characters, drawn uniformly from the alphabet. */
  readonly randomChars: number;
  /** Random characters plus the check character: the length LimeSurvey stores. */
  readonly length: number;
  /** Chance that `guesses` attempts hit a valid code with this length. */
  readonly odds: number;
  /** The same chance with 8 random digits, the usual alternative, for comparison. */
  readonly eightDigitOdds: number;
}

/** The shortest code whose guessing odds are within `maxOdds`. */
export function codeLength({ count, guesses, maxOdds }: CodeLengthOptions): CodeLength {
  // g·n/|A|^k <= t  <=>  k >= log(g·n/t) / log|A|. The bound g·n/|A|^k is above the exact odds,
  // so the chosen length is always on the safe side.
  const randomChars = Math.max(6, Math.ceil(Math.log((guesses * count) / maxOdds) / Math.log(RADIX) - 1e-9));
  if (randomChars + 1 > MAX_CODE_LENGTH) {
    throw new RangeError(`codes would need ${randomChars + 1} characters, more than the ${MAX_CODE_LENGTH} the check character protects; raise the target odds or lower the guesses`);
  }
  return {
    randomChars,
    length: randomChars + 1,
    odds: hitProbability(count, RADIX ** randomChars, guesses),
    eightDigitOdds: hitProbability(count, 1e8, guesses),
  };
}

/**
 * `count` distinct codes of `randomChars` random characters plus the check character, each
 * character uniform over the alphabet. `avoid` holds codes already issued (a replacement batch
 * must never repeat one).
 */
export function generateCodes(count: number, randomChars: number, avoid: ReadonlySet<string> = new Set(), digit: () => number = secureDigits(RADIX)): string[] {
  const codes = new Set<string>();
  while (codes.size < count) {
    let body = '';
    for (let i = 0; i < randomChars; i++) body += ALPHABET[digit()];
    const code = body + checkCharacter(body);
    if (!avoid.has(code)) codes.add(code);
  }
  return [...codes];
}
