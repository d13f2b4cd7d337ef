// Secrets are never written in a city file, and a credential is never half given.
import type { ConfigIssue } from '../issues.js';
import type { SourceFile } from '../source.js';
import { PLACEHOLDER_IN_TEXT } from './app-env.js';

const SECRET_NAME = /(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY)$/i;
const URL_CREDENTIALS = /:\/\/[^/:@\s]+:(?!\{\{)[^@\s]+@/;

export function secretIssues(src: SourceFile, city: any): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (city.registry.username !== undefined && city.registry.password === undefined) {
    issues.push(src.issue(['registry'], 'a "password" reference when a username is given', 'add password: { env: SOCLE_REGISTRY_PASSWORD }, or remove username for an anonymous registry', 'missing'));
  }
  for (const [name, value] of Object.entries<string>(city.services.consultation.env)) {
    const onlyPlaceholder = value.trim().replace(PLACEHOLDER_IN_TEXT, '') === '';
    const literalSecret = SECRET_NAME.test(name) && !onlyPlaceholder && value !== '';
    if (literalSecret || URL_CREDENTIALS.test(value)) {
      issues.push(src.issue(['services', 'consultation', 'env', name], 'no secret written in the city file', 'use a placeholder such as {{database.password}} or {{secretKeyBase}}; secrets the stack does not generate are not supported here yet', '(a secret value, not shown)'));
    }
  }
  return issues;
}
