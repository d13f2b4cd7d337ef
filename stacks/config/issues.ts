// How a problem in a city file is described to the sysadmin: where (file, line, field path), what
// was expected, what was found (never a secret) and how to fix it.
import { InputError } from '../../core/errors.js';

/** Keys from the document root to a value: `['services', 'matomo', 'hostname']`. */
export type Keys = ReadonlyArray<string | number>;

/** One problem in a city file, with everything a sysadmin needs to fix it. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted field path, e.g. `services.limesurvey.hostname`, or `(root)`. */
  readonly path: string;
  readonly expected: string;
  readonly got?: string;
  readonly fix: string;
}

/** Bad input: every issue found, sorted by file and line. Exit status 2, like every InputError. */
export class ConfigError extends InputError {
  constructor(public readonly issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const blocks = issues.map((i) => {
    const lines = [`${i.file}:${i.line}:${i.col}  ${i.path}`, `  expected: ${i.expected}`];
    if (i.got !== undefined) lines.push(`  got:      ${i.got}`);
    lines.push(`  fix:      ${i.fix}`);
    return lines.join('\n');
  });
  const n = issues.length;
  return `${blocks.join('\n')}\n${n} problem${n > 1 ? 's' : ''} in the city configuration; nothing was written.`;
}

export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

const SECRET_KEY = /password|secret|token|passwd|key$/i;

/** A value as a message may quote it: secrets and URL credentials are never echoed. */
export function show(keys: Keys, value: unknown): string {
  if (keys.some((k) => SECRET_KEY.test(String(k)))) return '(a secret value, not shown)';
  const text = JSON.stringify(value)?.replace(/(\/\/[^/:@\s"]+):[^@\s"]+@/g, '$1:***@');
  return text === undefined ? 'nothing' : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** "an integer", "a string": the indefinite article English wants before `noun`. */
export function withArticle(noun: string): string {
  return `${/^\W*[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The candidate `word` is most likely a typo of, if one is close enough. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
