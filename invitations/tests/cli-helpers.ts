// Running the invitations command as a subprocess and reading what it wrote: PDF text with
// pdftotext, pages with pdftoppm (Debian's poppler-utils).
import { expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from '../../tests/helpers.js';

export const CLI = join(ROOT, 'scripts/invitations.ts');
export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const SURVEY = ['--survey-url', 'https://enquetes.ville-exemple.fr/index.php/123456'];
export const ONION = 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz2345.onion';
/** Where the rendered pages are left for a human to look at. */
const PAGES = tempDir('socle-invitation-pages-');

export function invitations(args: string[]) {
  return run(process.execPath, ['--import', 'tsx', CLI, ...args]);
}

export function ok(args: string[]) {
  const r = invitations(args);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r;
}

export function tool(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${command} is missing: apt-get install -y poppler-utils (${r.error.message})`);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

export const pdfText = (file: string, page?: number) => tool('pdftotext', [...(page ? ['-f', `${page}`, '-l', `${page}`] : []), file, '-']);

/** One page rendered, as PNG (to look at) and as greyscale PGM bytes (to compare and count). */
export function renderPage(file: string, page: number, name: string): { png: Buffer; pgm: Buffer } {
  const prefix = join(PAGES, name);
  tool('pdftoppm', ['-png', '-r', '60', '-f', `${page}`, '-l', `${page}`, '-singlefile', file, prefix]);
  tool('pdftoppm', ['-gray', '-r', '60', '-f', `${page}`, '-l', `${page}`, '-singlefile', file, prefix]);
  return { png: readFileSync(`${prefix}.png`), pgm: readFileSync(`${prefix}.pgm`) };
}

/** Share of dark pixels in a binary PGM (P5): 0 for a blank page. */
export function inkRatio(pgm: Buffer): number {
  const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.toString('latin1', 0, 50))!;
  const pixels = pgm.subarray(header[0].length);
  let dark = 0;
  for (const p of pixels) if (p < 128) dark++;
  return dark / pixels.length;
}

export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Synthetic French addresses, in a known order. */
export function addressCsv(n: number): { file: string; names: string[]; streets: string[] } {
  const first = ['Hélène', 'Noël', 'Zoé', 'Gaëlle', 'Jérôme', 'Françoise', 'Anaïs', 'Benoît'];
  const last = ['Bézier', 'Lefèvre', 'Œillet', 'Müller', 'Dupré', 'Châtelain', 'Loïc', 'Bréhat'];
  const names = Array.from({ length: n }, (_, i) => `${first[i % 8]} ${last[(i >> 3) % 8]} ${String(i).padStart(4, '0')}`);
  const streets = Array.from({ length: n }, (_, i) => `${i + 1} rue de l'Église n°${i}`);
  const rows = names.map((name, i) => `${name},${streets[i]},${i % 4 ? '' : 'Bâtiment B'},690${String(i % 10).padStart(2, '0')},Lyon`);
  const file = join(tempDir('socle-addresses-'), 'adresses.csv');
  writeFileSync(file, `name,address1,address2,postcode,city\n${rows.join('\n')}\n`);
  return { file, names, streets };
}

export function participantTokens(dir: string): string[] {
  return readFileSync(join(dir, 'limesurvey-participants.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[4]);
}

export function spearman(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const d2 = xs.reduce((s, x, i) => s + (x - ys[i]) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

/**
 * The raw content stream of every page, in page order: the bytes that draw the page. pdfkit writes
 * each page dictionary (`/Type /Page ... /Contents N 0 R`) after its page, so file order is page order.
 */
export function pageContents(file: string): Buffer[] {
  const pdf = readFileSync(file);
  const text = pdf.toString('latin1');
  return [...text.matchAll(/\/Type \/Page\n[^]*?\/Contents (\d+) 0 R/g)].map(([, id]) => {
    const start = text.indexOf('stream\n', text.indexOf(`\n${id} 0 obj\n`)) + 'stream\n'.length;
    return pdf.subarray(start, text.indexOf('\nendstream', start));
  });
}
