// The seams of the codebase, checked: core/ is imported by everything and imports nothing of
// Socle's; the print-room tool (invitations/) depends on the core only.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ROOT } from './helpers.js';

function sources(dir: string, withTests = false): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'tests' && !withTests ? [] : sources(path, withTests);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module a file imports: `node:...`, a package name, or a path relative to the repository. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)]
    .map((m) => m[1] ?? m[2])
    .map((spec) => (spec.startsWith('.') ? relative(ROOT, resolve(join(file, '..'), spec)) : spec));
}

describe('the layout', () => {
  it('core/ imports nothing of Socle\'s', () => {
    const files = sources(join(ROOT, 'core'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) for (const spec of importsOf(f)) {
      expect(spec.startsWith('core/') || spec.startsWith('node:') || spec === 'constructs', `${relative(ROOT, f)} imports ${spec}`).toBe(true);
    }
  });

  it('the print-room tool (invitations/) depends on the core only', () => {
    const files = sources(join(ROOT, 'invitations'));
    expect(files.map((f) => relative(ROOT, f))).toEqual(expect.arrayContaining(['invitations/cli.ts', 'invitations/codes.ts', 'invitations/pdf.ts']));
    for (const f of files) for (const spec of importsOf(f)) {
      const allowed = spec.startsWith('invitations/') || spec.startsWith('core/') || spec.startsWith('node:') || spec === 'pdfkit';
      expect(allowed, `${relative(ROOT, f)} imports ${spec}`).toBe(true);
    }
  });
});
