import { describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import {
  ALPHABET, MAX_CODE_LENGTH, canonicalCode, checkCharacter, codeLength, formatCode, generateCodes, hitProbability, isValidCode,
} from '../codes.js';
import { shuffleInPlace, type RandomIndex } from '../random.js';
import { P_THRESHOLD, uniformityPValue } from './statistics.js';

const LOOK_ALIKES = ['0', 'O', '1', 'I', 'L', 'U', 'Z'];

describe('code alphabet', () => {
  it('has a prime number of characters and no look-alikes', () => {
    const n = ALPHABET.length;
    expect(new Set(ALPHABET).size).toBe(n);
    expect(Array.from({ length: n - 2 }, (_, i) => i + 2).some((d) => n % d === 0)).toBe(false);
    for (const c of LOOK_ALIKES) expect(ALPHABET).not.toContain(c);
  });
});

describe('code length', () => {
  it('meets the default target (1e-6 for 1,000,000 guesses) and beats 8 random digits by far', () => {
    const l = codeLength({ count: 84_000, guesses: 1_000_000, maxOdds: 1e-6 });
    expect(l.odds).toBeLessThanOrEqual(1e-6);
    expect(l.eightDigitOdds).toBeGreaterThan(0.99);
    expect(l.length).toBe(l.randomChars + 1);
    // The shortest such length: one character less would miss the target.
    expect(1_000_000 * 84_000 / ALPHABET.length ** (l.randomChars - 1)).toBeGreaterThan(1e-6);
  });

  it('grows with the number of codes and the guessing budget', () => {
    const small = codeLength({ count: 100, guesses: 1000, maxOdds: 1e-6 });
    const large = codeLength({ count: 1_000_000, guesses: 100_000_000, maxOdds: 1e-9 });
    expect(large.randomChars).toBeGreaterThan(small.randomChars);
    expect(large.odds).toBeLessThanOrEqual(1e-9);
  });

  it('fails when the code would be too long for the check character', () => {
    expect(() => codeLength({ count: 1e9, guesses: 1e12, maxOdds: 1e-40 })).toThrow(new RegExp(`more than the ${MAX_CODE_LENGTH}`));
  });

  it('computes the odds of a hit', () => {
    expect(hitProbability(1, 100, 1)).toBeCloseTo(0.01, 10);
    expect(hitProbability(50, 100, 1_000_000)).toBe(1);
    expect(hitProbability(84_000, 1e8, 1_000_000)).toBe(1);
  });
});

describe('codes', () => {
  const l = codeLength({ count: 20_000, guesses: 1_000_000, maxOdds: 1e-6 });
  const codes = generateCodes(20_000, l.randomChars);

  it('are unique, of the computed length, and all pass the check', () => {
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.filter((c) => c.length !== l.length || !isValidCode(c, l.length))).toEqual([]);
  });

  it('reject every one-character substitution (exhaustive on 300 codes)', () => {
    let tried = 0;
    const accepted: string[] = [];
    for (const code of codes.slice(0, 300)) {
      for (let i = 0; i < code.length; i++) {
        for (const c of ALPHABET) {
          if (c === code[i]) continue;
          const typo = code.slice(0, i) + c + code.slice(i + 1);
          if (isValidCode(typo)) accepted.push(typo);
          tried++;
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(tried).toBe(300 * l.length * (ALPHABET.length - 1));
  });

  it('reject every transposition of two different characters, adjacent or not (exhaustive on 300 codes)', () => {
    const accepted: string[] = [];
    for (const code of codes.slice(0, 300)) {
      for (let i = 0; i < code.length; i++) {
        for (let j = i + 1; j < code.length; j++) {
          if (code[i] === code[j]) continue;
          const swapped = [...code];
          [swapped[i], swapped[j]] = [swapped[j], swapped[i]];
          if (isValidCode(swapped.join(''))) accepted.push(swapped.join(''));
        }
      }
    }
    expect(accepted).toEqual([]);
  });

  it('reject a dropped or added character and characters outside the alphabet', () => {
    const code = codes[0];
    expect(isValidCode(code.slice(1), l.length)).toBe(false);
    expect(isValidCode(code + '2', l.length)).toBe(false);
    expect(isValidCode(code.replace(/.$/, 'O'))).toBe(false);
  });

  it('are accepted in groups, lower case or with spaces, and stored in canonical form', () => {
    const code = codes[1];
    const printed = formatCode(code);
    expect(printed).toMatch(/^[^-]{4,5}(-[^-]{4,5})+$/);
    for (const typed of [printed, printed.toLowerCase(), printed.replace(/-/g, ' '), ` ${code.toLowerCase()} `]) {
      expect(isValidCode(typed, l.length)).toBe(true);
      expect(canonicalCode(typed)).toBe(code);
    }
  });

  it('never repeat a code given to avoid', () => {
    const avoid = new Set(codes);
    // With 4 random characters (707,281 codes), 20,000 taken, collisions happen and must be skipped.
    const short = generateCodes(5000, 4, new Set(generateCodes(20_000, 4)));
    expect(new Set(short).size).toBe(5000);
    expect(generateCodes(100, l.randomChars, avoid).some((c) => avoid.has(c))).toBe(false);
  });

  it('have uniformly distributed characters (chi-square over 20,000 codes, p > 1e-6)', () => {
    const counts = new Array(ALPHABET.length).fill(0);
    for (const c of codes) for (const ch of c.slice(0, l.randomChars)) counts[ALPHABET.indexOf(ch)]++;
    const { pValue } = uniformityPValue(counts);
    expect(pValue).toBeGreaterThan(P_THRESHOLD);
  });

  it('the same check catches a slightly biased generator', () => {
    // '2' drawn 1.3 times as often as any other character: what a modulo bias would look like.
    const biased = () => {
      const r = randomInt(ALPHABET.length * 10 + 3);
      return r >= ALPHABET.length * 10 ? 0 : r % ALPHABET.length;
    };
    const counts = new Array(ALPHABET.length).fill(0);
    for (const c of generateCodes(20_000, l.randomChars, new Set(), biased)) for (const ch of c.slice(0, l.randomChars)) counts[ALPHABET.indexOf(ch)]++;
    expect(uniformityPValue(counts).pValue).toBeLessThan(P_THRESHOLD);
  });

  it('check character is the one that makes the weighted sum vanish', () => {
    for (const c of codes.slice(0, 100)) expect(checkCharacter(c.slice(0, -1))).toBe(c.at(-1));
  });
});

describe('shuffle', () => {
  // Where the first of 10 items lands, over 29,000 shuffles: uniform over the 10 places when every
  // permutation is equally likely.
  const landing = (pick?: RandomIndex) => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 29_000; i++) counts[shuffleInPlace([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], pick).indexOf(0)]++;
    return counts;
  };

  it('puts an item at every place with equal chance (chi-square, p > 1e-6)', () => {
    expect(uniformityPValue(landing()).pValue).toBeGreaterThan(P_THRESHOLD);
  });

  it('the same check catches a biased shuffle (Sattolo: an item never stays in place)', () => {
    expect(uniformityPValue(landing((max) => Math.floor(Math.random() * (max - 1)))).pValue).toBeLessThan(P_THRESHOLD);
  });

  it('orders a long list differently each time', () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    expect(shuffleInPlace([...items])).not.toEqual(shuffleInPlace([...items]));
  });
});
