// The invitations command end to end, as a subprocess: the separation of codes and addresses in
// every file and log line, reprints, voids, and the exit status of every kind of bad input.
// PDF text is read with pdftotext and pages rendered with pdftoppm (Debian's poppler-utils).
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatCode, generateCodes } from '../../scripts/invitations/codes.js';
import { ROOT, run, tempDir } from '../helpers.js';

const CLI = join(ROOT, 'scripts/invitations.ts');
const FIXTURES = join(ROOT, 'tests/fixtures/invitations');
const SURVEY = ['--survey-url', 'https://enquetes.ville-exemple.fr/index.php/123456'];
const ONION = 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz2345.onion';
/** Where the rendered pages are left for a human to look at. */
const PAGES = tempDir('socle-invitation-pages-');

function invitations(args: string[]) {
  return run(process.execPath, ['--import', 'tsx', CLI, ...args]);
}

function ok(args: string[]) {
  const r = invitations(args);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r;
}

function tool(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${command} is missing: apt-get install -y poppler-utils (${r.error.message})`);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const pdfText = (file: string, page?: number) => tool('pdftotext', [...(page ? ['-f', `${page}`, '-l', `${page}`] : []), file, '-']);

/** One page rendered, as PNG (to look at) and as greyscale PGM bytes (to compare and count). */
function renderPage(file: string, page: number, name: string): { png: Buffer; pgm: Buffer } {
  const prefix = join(PAGES, name);
  tool('pdftoppm', ['-png', '-r', '60', '-f', `${page}`, '-l', `${page}`, '-singlefile', file, prefix]);
  tool('pdftoppm', ['-gray', '-r', '60', '-f', `${page}`, '-l', `${page}`, '-singlefile', file, prefix]);
  return { png: readFileSync(`${prefix}.png`), pgm: readFileSync(`${prefix}.pgm`) };
}

/** Share of dark pixels in a binary PGM (P5): 0 for a blank page. */
function inkRatio(pgm: Buffer): number {
  const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.toString('latin1', 0, 50))!;
  const pixels = pgm.subarray(header[0].length);
  let dark = 0;
  for (const p of pixels) if (p < 128) dark++;
  return dark / pixels.length;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Synthetic French addresses, in a known order. */
function addressCsv(n: number): { file: string; names: string[]; streets: string[] } {
  const first = ['Hélène', 'Noël', 'Zoé', 'Gaëlle', 'Jérôme', 'Françoise', 'Anaïs', 'Benoît'];
  const last = ['Bézier', 'Lefèvre', 'Œillet', 'Müller', 'Dupré', 'Châtelain', 'Loïc', 'Bréhat'];
  const names = Array.from({ length: n }, (_, i) => `${first[i % 8]} ${last[(i >> 3) % 8]} ${String(i).padStart(4, '0')}`);
  const streets = Array.from({ length: n }, (_, i) => `${i + 1} rue de l'Église n°${i}`);
  const rows = names.map((name, i) => `${name},${streets[i]},${i % 4 ? '' : 'Bâtiment B'},690${String(i % 10).padStart(2, '0')},Lyon`);
  const file = join(tempDir('socle-addresses-'), 'adresses.csv');
  writeFileSync(file, `name,address1,address2,postcode,city\n${rows.join('\n')}\n`);
  return { file, names, streets };
}

function participantTokens(dir: string): string[] {
  return readFileSync(join(dir, 'limesurvey-participants.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[4]);
}

function spearman(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const d2 = xs.reduce((s, x, i) => s + (x - ys[i]) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

describe('invitations generate', () => {
  const input = addressCsv(60);
  const out = join(tempDir('socle-invitations-'), 'out');
  let log = '';
  let codes: string[] = [];

  beforeAll(() => {
    const r = ok(['generate', '--addresses', input.file, '--codes', '70', '--batch', '30', '--out', out, ...SURVEY, '--onion', ONION,
      '--valid-from', '2027-01-10', '--valid-until', '2027-02-10', '--sender', 'Mairie de Ville-Exemple, 1 place de la Mairie, 99999 Ville-Exemple']);
    log = r.stdout + r.stderr;
    codes = participantTokens(out);
  }, 120_000);

  it('writes one folder per station, the LimeSurvey file and the manifest', () => {
    expect(filesUnder(out).map((f) => f.slice(out.length + 1)).sort()).toEqual([
      'codes/codes-sheets.json', 'codes/codes.pdf', 'envelopes/envelopes-sheets.json', 'envelopes/envelopes.pdf', 'limesurvey-participants.csv', 'manifest.json',
    ]);
    expect(log).toMatch(/codes: 70 \(10 spare\), \d+ characters/);
    expect(log).toMatch(/odds: an attacker trying 1,000,000 codes hits a valid one with probability [\d.]+e-\d+ .*\(target 1e-6\)/);
    expect(log).toMatch(/with 8-digit codes the same attempts would hit with probability/);
  });

  it('prints every code once on the cards, with the survey URL and onion address, and no name or address', () => {
    const text = pdfText(join(out, 'codes/codes.pdf'));
    for (const c of codes) expect(text.split(formatCode(c)).length - 1, c).toBe(1);
    expect(text).toContain('https://enquetes.ville-exemple.fr/index.php/123456');
    expect(text).toContain(ONION);
    for (const [i, name] of input.names.entries()) {
      expect(text).not.toContain(name);
      expect(text).not.toContain(input.streets[i]);
    }
  });

  it('prints every address once on the envelopes, accents intact, and no code', () => {
    const text = pdfText(join(out, 'envelopes/envelopes.pdf'));
    for (const name of input.names) expect(text.split(name).length - 1).toBe(1);
    expect(text).toContain("1 rue de l'Église n°0");
    const flat = text.replace(/[\s-]/g, '');
    for (const c of codes) expect(flat).not.toContain(c);
  });

  it('writes tokens only to LimeSurvey, single use, with the validity dates', () => {
    const [header, ...rows] = readFileSync(join(out, 'limesurvey-participants.csv'), 'utf8').trim().split('\n');
    expect(header).toBe('firstname,lastname,email,emailstatus,token,language,validfrom,validuntil,invited,reminded,remindercount,completed,usesleft');
    expect(rows).toHaveLength(70);
    for (const row of rows) expect(row).toMatch(/^,,,,[2-9A-HJKMNP-TV-Y]+,,2027-01-10 00:00,2027-02-10 23:59,N,N,0,N,1$/);
    expect(new Set(codes).size).toBe(70);
  });

  it('keeps the two sides apart in every file and never logs a code or a name', () => {
    const codeFree = [...filesUnder(join(out, 'envelopes')), join(out, 'manifest.json')];
    const nameFree = [...filesUnder(join(out, 'codes')), join(out, 'limesurvey-participants.csv'), join(out, 'manifest.json')];
    for (const file of codeFree) {
      const text = file.endsWith('.pdf') ? pdfText(file).replace(/[\s-]/g, '') : readFileSync(file, 'utf8');
      for (const c of codes) expect(text.includes(c), `${file} holds a code`).toBe(false);
    }
    for (const file of nameFree) {
      const text = file.endsWith('.pdf') ? pdfText(file) : readFileSync(file, 'utf8');
      for (const [i, name] of input.names.entries()) {
        expect(text.includes(name), `${file} holds a name`).toBe(false);
        expect(text.includes(input.streets[i]), `${file} holds an address`).toBe(false);
      }
    }
    for (const c of codes) expect(log.replace(/-/g, '')).not.toContain(c);
    for (const name of input.names) expect(log).not.toContain(name);
  });

  it('records counts, batches and the SHA-256 of every file in the manifest', () => {
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.addresses.count).toBe(60);
    expect(manifest.codes).toMatchObject({ count: 70, spare: 10 });
    expect(manifest.layout.codes.batches).toEqual([{ batch: 1, sheets: 3 }, { batch: 2, sheets: 3 }, { batch: 3, sheets: 1 }]);
    expect(manifest.layout.envelopes.batches).toEqual([{ batch: 1, sheets: 30 }, { batch: 2, sheets: 30 }]);
    const pdf = readFileSync(join(out, 'codes/codes.pdf'));
    expect(manifest.files['codes/codes.pdf']).toEqual({ bytes: pdf.length, sha256: createHash('sha256').update(pdf).digest('hex') });
    expect(Object.keys(manifest.files).sort()).toEqual(['codes/codes-sheets.json', 'codes/codes.pdf', 'envelopes/envelopes-sheets.json', 'envelopes/envelopes.pdf', 'limesurvey-participants.csv']);
  });

  it('renders non-blank pages with the batch and sheet in the margin', () => {
    const cards = renderPage(join(out, 'codes/codes.pdf'), 1, 'codes-page-1');
    const letter = renderPage(join(out, 'envelopes/envelopes.pdf'), 1, 'envelopes-page-1');
    for (const page of [cards, letter]) {
      expect(page.png.subarray(0, 8).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
      expect(inkRatio(page.pgm)).toBeGreaterThan(0.001);
      expect(inkRatio(page.pgm)).toBeLessThan(0.3);
    }
    expect(inkRatio(cards.pgm)).toBeGreaterThan(inkRatio(letter.pgm));
    expect(pdfText(join(out, 'codes/codes.pdf'), 4)).toContain('lot 2 / batch 2 — feuille 1/3 / sheet 1 of 3');
    expect(pdfText(join(out, 'envelopes/envelopes.pdf'), 31)).toContain('lot 2 / batch 2 — feuille 1/30 / sheet 1 of 30');
  });

  it('orders envelopes independently of the input file and of the codes', () => {
    const store = JSON.parse(readFileSync(join(out, 'envelopes/envelopes-sheets.json'), 'utf8'));
    const printed: string[] = store.sheets.flatMap((s: any) => s.addresses.map((a: any) => a.name));
    const inputRank = printed.map((n) => input.names.indexOf(n));
    // |rho| > 0.4 has p < 1e-3 for 60 random permutations under independence.
    expect(Math.abs(spearman(inputRank, printed.map((_, i) => i)))).toBeLessThan(0.4);
    const cardOrder: string[] = JSON.parse(readFileSync(join(out, 'codes/codes-sheets.json'), 'utf8')).sheets.flatMap((s: any) => s.codes);
    const sorted = [...cardOrder].sort();
    expect(Math.abs(spearman(cardOrder.map((c) => sorted.indexOf(c)), cardOrder.map((_, i) => i)))).toBeLessThan(0.4);
  });

  it('reprints a code sheet and an envelope sheet identical to the original pages, from one folder each', () => {
    const to = tempDir('socle-reprint-');
    // Batch 2, sheet 2 is the 5th page (batch 1 has 3 sheets).
    const r = ok(['reprint', 'codes', '--from', join(out, 'codes'), '--batch', '2', '--sheet', '2', '--to', join(to, 'codes.pdf')]);
    expect(r.stdout).toContain('codes: batch 2, sheet 2 (1 sheet(s))');
    const reprinted = renderPage(join(to, 'codes.pdf'), 1, 'codes-reprint');
    expect(reprinted.pgm.equals(renderPage(join(out, 'codes/codes.pdf'), 5, 'codes-page-5').pgm)).toBe(true);
    expect(reprinted.pgm.equals(renderPage(join(out, 'codes/codes.pdf'), 4, 'codes-page-4').pgm)).toBe(false);
    expect(pdfText(join(to, 'codes.pdf'))).toBe(pdfText(join(out, 'codes/codes.pdf'), 5));

    ok(['reprint', 'envelopes', '--from', out, '--batch', '2', '--sheet', '7', '--to', join(to, 'envelopes.pdf')]);
    const letter = renderPage(join(to, 'envelopes.pdf'), 1, 'envelopes-reprint');
    expect(letter.pgm.equals(renderPage(join(out, 'envelopes/envelopes.pdf'), 37, 'envelopes-page-37').pgm)).toBe(true);
    expect(letter.pgm.equals(renderPage(join(out, 'envelopes/envelopes.pdf'), 36, 'envelopes-page-36').pgm)).toBe(false);
    for (const c of codes) expect(r.stdout + r.stderr).not.toContain(c);
  });

  it('reprints a whole batch to the default place', () => {
    ok(['reprint', 'envelopes', '--from', out, '--batch', '1']);
    expect(pdfText(join(out, 'envelopes/reprints/envelopes-batch-1.pdf'))).toBe(pdfText(join(out, 'envelopes/envelopes.pdf')).split('\f').slice(0, 30).join('\f') + '\f');
  });

  it('voids spoiled codes: tokens to delete, a replacement batch with new codes, void cards on reprint', () => {
    const [a, b] = [codes[3], codes[17]];
    const list = join(tempDir('socle-void-'), 'abimes.txt');
    writeFileSync(list, `${formatCode(a).toLowerCase()}\n\n${b}\n`);
    const r = ok(['void', '--from', out, '--codes', list]);
    for (const c of codes) expect(r.stdout + r.stderr).not.toContain(c);
    expect(r.stdout).toContain('voided 2 code(s); replacement batch 4: 2 code(s) on 1 sheet(s)');
    const voidDir = join(out, 'codes/void-1');
    expect(readFileSync(join(voidDir, 'limesurvey-delete-tokens.csv'), 'utf8')).toBe(`token\n${[a, b].sort().join('\n')}\n`);
    const replacements = participantTokens(voidDir);
    expect(replacements).toHaveLength(2);
    for (const c of replacements) {
      expect(codes).not.toContain(c);
      expect(c).toHaveLength(codes[0].length);
    }
    const replacementText = pdfText(join(voidDir, 'codes.pdf'));
    for (const c of replacements) expect(replacementText).toContain(formatCode(c));
    expect(replacementText).toContain('lot 4 / batch 4');

    // The sheet that held a voided code now prints it as void.
    const store = JSON.parse(readFileSync(join(out, 'codes/codes-sheets.json'), 'utf8'));
    const sheet = store.sheets.find((s: any) => s.codes.includes(a));
    const to = join(tempDir('socle-reprint-'), 'after-void.pdf');
    ok(['reprint', 'codes', '--from', out, '--batch', `${sheet.batch}`, '--sheet', `${sheet.sheet}`, '--to', to]);
    const text = pdfText(to);
    expect(text).toContain('Carte annulée · Void card');
    expect(text).not.toContain(formatCode(a));
  });

  it('refuses mistyped, foreign and already voided codes, without repeating them', () => {
    const typo = codes[5].slice(0, 4) + (codes[5][4] === '7' ? '8' : '7') + codes[5].slice(5);
    const foreign = generateCodes(1, codes[0].length - 1)[0];
    for (const [code, message] of [[typo, /--codes entry 1: not a valid code \(mistyped\?/], [foreign, /not one of this generation/], [codes[3], /already voided/]] as const) {
      const r = invitations(['void', '--from', out, '--codes', code]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain(code);
    }
  });
});

describe('invitations generate, other inputs', () => {
  it('reads a Windows-1252 export with French headers and prints labels with its accents', () => {
    const out = join(tempDir('socle-invitations-'), 'out');
    ok(['generate', '--addresses', join(FIXTURES, 'adresses-windows-1252.csv'), '--map', 'name=Nom,address1=Adresse,address2=Complément,postcode=CP,city=Ville',
      '--codes', '3', '--out', out, ...SURVEY, '--layout', 'dl-label', '--quiet']);
    const text = pdfText(join(out, 'envelopes/envelopes.pdf'));
    for (const s of ['Hélène Bézier', "12 rue de l'Église", 'Gaëlle Œillet', 'Résidence « Les Érables »', '69004 Lyon']) expect(text).toContain(s);
    const page = renderPage(join(out, 'envelopes/envelopes.pdf'), 1, 'labels-page-1');
    expect(inkRatio(page.pgm)).toBeGreaterThan(0.0005);
  });

  it('reprints a whole single-batch generation byte for byte', () => {
    const out = join(tempDir('socle-invitations-'), 'out');
    ok(['generate', '--addresses', join(FIXTURES, 'adresses.csv'), '--codes', '12', '--out', out, ...SURVEY, '--title', 'Consultation sur le plan vélo']);
    for (const side of ['codes', 'envelopes']) {
      const to = join(tempDir('socle-reprint-'), `${side}.pdf`);
      ok(['reprint', side, '--from', out, '--batch', '1', '--to', to]);
      expect(readFileSync(to).equals(readFileSync(join(out, side, `${side}.pdf`))), side).toBe(true);
    }
    expect(pdfText(join(out, 'codes/codes.pdf'))).toContain('Consultation sur le plan vélo');
  });

  it('draws different codes and a different envelope order on each run', () => {
    const input = addressCsv(40);
    const runs = [1, 2].map(() => {
      const out = join(tempDir('socle-invitations-'), 'out');
      ok(['generate', '--addresses', input.file, '--codes', '40', '--out', out, ...SURVEY]);
      const store = JSON.parse(readFileSync(join(out, 'envelopes/envelopes-sheets.json'), 'utf8'));
      return { codes: participantTokens(out), order: store.sheets.map((s: any) => s.addresses[0].name).join('|') };
    });
    expect(runs[0].order).not.toBe(runs[1].order);
    expect(runs[0].codes.filter((c) => runs[1].codes.includes(c))).toEqual([]);
  });
});

describe('invitations: bad input exits 2 with a clear message', () => {
  const fixture = (name: string) => join(FIXTURES, name);
  const out = () => join(tempDir('socle-invitations-'), 'out');
  const utf16 = join(tempDir('socle-addresses-'), 'adresses-utf16.csv');
  writeFileSync(utf16, Buffer.from('\uFEFFname,address1,address2,postcode,city\nHélène,1 rue,,69000,Lyon\n', 'utf16le'));
  const notEmpty = tempDir('socle-invitations-');
  writeFileSync(join(notEmpty, 'old.txt'), 'x');

  it.each([
    ['a missing column', ['--addresses', fixture('colonne-manquante.csv'), '--codes', '5'], /colonne-manquante\.csv:1: no column "city" for city — add it, or map another column with --map city=<header>/],
    ['malformed rows', ['--addresses', fixture('ligne-malformee.csv'), '--codes', '5'], /ligne-malformee\.csv:3: 4 field\(s\) where the header has 5[^]*ligne-malformee\.csv:4: column "postcode" is empty/],
    ['an empty file', ['--addresses', fixture('vide.csv'), '--codes', '5'], /vide\.csv: the file is empty — it needs a header row \(name,address1,address2,postcode,city\)/],
    ['a UTF-16 file', ['--addresses', utf16, '--codes', '5'], /adresses-utf16\.csv: the file contains NUL bytes \(UTF-16 or binary\)/],
    ['duplicates', ['--addresses', fixture('doublons.csv'), '--codes', '5'], /doublons\.csv:4: same name and address as line 2 — remove one, or pass --drop-duplicates/],
    ['0 codes', ['--addresses', fixture('adresses.csv'), '--codes', '0'], /--codes 0: there would be nothing to print/],
    ['fewer codes than envelopes', ['--addresses', fixture('adresses.csv'), '--codes', '3'], /--codes 3 is fewer than the 5 addresses: every envelope needs a card; use --codes 6/],
    ['an invalid --map', ['--addresses', fixture('adresses.csv'), '--codes', '5', '--map', 'nom=Nom'], /--map: unknown field "nom"/],
    ['a survey URL in clear text', ['--addresses', fixture('adresses.csv'), '--codes', '5', '--survey-url', 'http://enquetes.ville-exemple.fr/'], /--survey-url must use https/],
    ['a bad onion address', ['--addresses', fixture('adresses.csv'), '--codes', '5', '--onion', 'exemple.onion'], /--onion: expected a v3 onion address/],
    ['validity dates in the wrong order', ['--addresses', fixture('adresses.csv'), '--codes', '5', '--valid-from', '2027-02-10', '--valid-until', '2027-01-10'], /--valid-until \(2027-01-10 23:59\) must come after --valid-from/],
    ['a date that does not exist', ['--addresses', fixture('adresses.csv'), '--codes', '5', '--valid-from', '2027-02-30'], /--valid-from: "2027-02-30" is not a date/],
    ['an unknown layout', ['--addresses', fixture('adresses.csv'), '--codes', '5', '--layout', 'a5'], /--layout: unknown layout "a5"; layouts are c5-window, dl-label/],
  ])('generate with %s', (_, args, message) => {
    const dir = out();
    const r = invitations(['generate', ...SURVEY, '--out', dir, ...args]);
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(dir)).toBe(false);
  });

  it('generate into a directory that is not empty', () => {
    const r = invitations(['generate', ...SURVEY, '--addresses', fixture('adresses.csv'), '--codes', '5', '--out', notEmpty]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the directory is not empty/);
    expect(readdirSync(notEmpty)).toEqual(['old.txt']);
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"; commands are generate, reprint, void[^]*usage: npm run invitations/],
    [['generate', '--codes', '5'], /--addresses FILE\.csv is required[^]*usage: npm run invitations -- generate/],
    [['generate', '--bogus'], /Unknown option '--bogus'/],
    [['reprint', 'both', '--from', '.', '--batch', '1'], /say which side to reprint/],
    [['reprint', 'codes', '--from', FIXTURES, '--batch', '1'], /no codes\/codes-sheets\.json here/],
    [['void', '--from', FIXTURES], /--codes FILE\|LIST is required/],
  ])('%j', (args, message) => {
    const r = invitations(args);
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('reprint of a batch or sheet that does not exist says which exist', () => {
    const dir = out();
    ok(['generate', ...SURVEY, '--addresses', fixture('adresses.csv'), '--codes', '25', '--out', dir]);
    expect(invitations(['reprint', 'codes', '--from', dir, '--batch', '2']).stderr).toMatch(/--batch 2: codes has batches 1 to 1/);
    expect(invitations(['reprint', 'codes', '--from', dir, '--batch', '1', '--sheet', '4']).stderr).toMatch(/--sheet 4: batch 1 of codes has sheets 1 to 3/);
  });
});

describe('invitations --help', () => {
  it.each([[[]], [['--help']], [['generate', '--help']], [['reprint', '-h']], [['void', '--help']]])('%j prints its usage and exits 0', (args) => {
    const r = ok(args);
    expect(r.stdout).toMatch(new RegExp(`^usage: npm run invitations -- ${args.length > 1 ? args[0] : ''}`));
  });
});
