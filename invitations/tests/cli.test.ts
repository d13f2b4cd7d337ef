// The invitations command end to end, as a subprocess: the separation of codes and addresses in
// every file and log line, reprints, voids, and the exit status of every kind of bad input.
// PDF text is read with pdftotext and pages rendered with pdftoppm (Debian's poppler-utils).
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatCode, generateCodes } from '../codes.js';
import { ROOT, run, tempDir } from '../../tests/helpers.js';
import {
  FIXTURES, ONION, SURVEY, addressCsv, filesUnder, inkRatio, invitations, ok, pageContents, participantTokens, pdfText, renderPage, spearman,
} from './cli-helpers.js';

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
    // Byte for byte: the page's content stream is the original's.
    const original = pageContents(join(out, 'codes/codes.pdf'));
    expect(original).toHaveLength(7);
    expect(pageContents(join(to, 'codes.pdf'))[0].equals(original[4])).toBe(true);
    expect(pageContents(join(to, 'codes.pdf'))[0].equals(original[3])).toBe(false);

    ok(['reprint', 'envelopes', '--from', out, '--batch', '2', '--sheet', '7', '--to', join(to, 'envelopes.pdf')]);
    const letter = renderPage(join(to, 'envelopes.pdf'), 1, 'envelopes-reprint');
    expect(letter.pgm.equals(renderPage(join(out, 'envelopes/envelopes.pdf'), 37, 'envelopes-page-37').pgm)).toBe(true);
    expect(letter.pgm.equals(renderPage(join(out, 'envelopes/envelopes.pdf'), 36, 'envelopes-page-36').pgm)).toBe(false);
    expect(pageContents(join(to, 'envelopes.pdf'))[0].equals(pageContents(join(out, 'envelopes/envelopes.pdf'))[36])).toBe(true);
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

  it('takes the survey address and the commune from the city file', () => {
    const out = join(tempDir('socle-invitations-'), 'out');
    ok(['generate', '--addresses', join(FIXTURES, 'adresses.csv'), '--codes', '5', '--out', out, '--config', join(ROOT, 'examples/ville-exemple.yaml')]);
    const text = pdfText(join(out, 'codes/codes.pdf'));
    expect(text).toContain('Consultation citoyenne — Ville-Exemple');
    expect(text).toContain('https://enquetes.ville-exemple.fr/');
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

describe('invitations on its own (invitations/main.ts, without Socle\'s city file)', () => {
  const standalone = (args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'invitations/main.ts'), ...args]);

  it('runs with --survey-url, and says that --config needs Socle', () => {
    expect(standalone(['--help']).stdout).toMatch(/generate\s+codes, code cards, envelopes/);
    const out = join(tempDir(), 'courrier');
    const made = standalone(['generate', '--addresses', join(FIXTURES, 'adresses.csv'), '--codes', '30', '--out', out, ...SURVEY, '--quiet']);
    expect(made.status, made.stderr).toBe(0);
    const city = standalone(['generate', '--addresses', join(FIXTURES, 'adresses.csv'), '--codes', '30', '--out', join(tempDir(), 'c'), '--config', 'ville.yaml']);
    expect(city.status).toBe(2);
    expect(city.stderr).toMatch(/--config is Socle's: run npm run invitations in a Socle checkout, or give --survey-url and --title/);
  });
});
