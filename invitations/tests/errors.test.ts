// Bad input to the invitations command: exit status 2 and a message that says where and how to fix.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../tests/helpers.js';
import { FIXTURES, SURVEY, invitations, ok } from './cli-helpers.js';

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
