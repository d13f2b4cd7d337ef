// npm run lint's own check for dead code, on a planted tree and on this repository.
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unusedExports } from '../scripts/lint.js';
import { tempDir } from './helpers.js';

describe('the dead-code check', () => {
  it('finds an exported value no other file uses, and leaves types and used values alone', () => {
    const root = tempDir();
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'lib/a.ts'), 'export function used() {}\nexport const forgotten = 1;\nexport interface Props { x: number }\n');
    writeFileSync(join(root, 'main.ts'), "import { used } from './lib/a.js';\nused();\n");
    expect(unusedExports(root)).toEqual(['lib/a.ts: forgotten is exported but used by no other file: remove it, or drop the export']);
  });

  it('finds none in Socle', () => {
    expect(unusedExports()).toEqual([]);
  });
});
