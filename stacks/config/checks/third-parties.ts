// The second net: no deny-listed third party (CDN, analytics, public registry, transactional
// relay...) anywhere in the file, whatever field it hides in, declared external or not.
import { thirdPartiesIn } from '../../policy/third-parties.js';
import type { ConfigIssue, Keys } from '../issues.js';
import type { SourceFile } from '../source.js';

function* strings(value: unknown, keys: Keys = []): Generator<[Keys, string]> {
  if (typeof value === 'string') yield [keys, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...keys, i]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...keys, k]);
}

export function thirdPartyIssues(src: SourceFile, raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [keys, value] of strings(raw)) {
    if (keys[0] === '$schema') continue;
    for (const { host, party } of thirdPartiesIn(value)) {
      issues.push(src.issue(keys, 'no third-party host (CDN, analytics, web fonts, embeds, mail relay, public registry)',
        `replace ${host} (${party.vendor}, ${party.category}) with a service the city runs itself; this deny list holds even for externalParties`, JSON.stringify(host)));
    }
  }
  return issues;
}
