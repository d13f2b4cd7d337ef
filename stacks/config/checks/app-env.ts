// The consultation app's `env`: every {{placeholder}} must be one the construct fills in, or the
// synth would stop on it with a stack trace, far from the line the sysadmin typed.
import { CONSULTATION_PLACEHOLDERS } from '../../../services/consultation/placeholders.js';
import { nearest, type ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';

/** `{{ name }}` as the construct's templates read it; the name is whatever sits between the braces. */
export const PLACEHOLDER_IN_TEXT = /\{\{\s*([^{}]*?)\s*\}\}/g;

export function appEnvIssues(src: SourceFile, city: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const known: readonly string[] = CONSULTATION_PLACEHOLDERS;
  for (const [name, value] of Object.entries<string>(city.services.consultation.env)) {
    for (const [, placeholder] of value.matchAll(PLACEHOLDER_IN_TEXT)) {
      if (known.includes(placeholder)) continue;
      const guess = nearest(placeholder, known);
      issues.push(src.issue(['services', 'consultation', 'env', name], `placeholders the consultation app fills in: ${known.map((k) => `{{${k}}}`).join(', ')}`,
        guess ? `did you mean {{${guess}}}?` : 'use one of the listed placeholders, or write the value out', `unknown placeholder {{${placeholder}}}`));
    }
  }
  return issues;
}
