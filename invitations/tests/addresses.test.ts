import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { decodeCsv, parseFieldMap, readAddresses } from '../addresses.js';
import { ROOT, tempDir } from '../../tests/helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => join(FIXTURES, name);

function csv(text: string | Buffer, name = 'adresses.csv'): string {
  const file = join(tempDir('socle-addresses-'), name);
  writeFileSync(file, text);
  return file;
}

function failure(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
}

describe('address list', () => {
  it('reads UTF-8 with quoted commas, accents and an empty address2', () => {
    const list = readAddresses(fixture('adresses.csv'));
    expect(list.encoding).toBe('utf-8');
    expect(list.addresses).toHaveLength(5);
    expect(list.addresses[0]).toEqual({ name: 'Hélène Bézier', address1: "12 rue de l'Église", address2: '', postcode: '69000', city: 'Lyon' });
    expect(list.addresses[1].address1).toBe('3, allée des Peupliers');
  });

  it('detects Windows-1252 (semicolons, CRLF) and maps French headers', () => {
    const list = readAddresses(fixture('adresses-windows-1252.csv'), { map: parseFieldMap(['name=Nom,address1=Adresse', 'address2=Complément,postcode=CP,city=Ville']) });
    expect(list.encoding).toBe('windows-1252');
    expect(list.separator).toBe(';');
    expect(list.addresses[0]).toEqual({ name: 'Hélène Bézier', address1: "12 rue de l'Église", address2: '', postcode: '69000', city: 'Lyon' });
    expect(list.addresses[1].name).toBe('Gaëlle Œillet');
    expect(list.addresses[1].address2).toBe('Résidence « Les Érables »');
  });

  it('drops a UTF-8 byte order mark and composes decomposed accents', () => {
    const list = readAddresses(csv('\uFEFFname,address1,postcode,city\nHe\u0301le\u0300ne,1 rue,69000,Lyon\n'));
    expect(list.addresses[0].name).toBe('Hélène');
    expect(list.addresses[0].address2).toBe('');
  });

  it('fails on a missing column, naming it and the --map fix', () => {
    const message = failure(() => readAddresses(fixture('colonne-manquante.csv')));
    expect(message).toContain('colonne-manquante.csv:1: no column "city" for city');
    expect(message).toContain('--map city=<header>');
    expect(message).not.toContain('address2');
  });

  it('fails on a mapped column that is not in the header', () => {
    expect(failure(() => readAddresses(fixture('adresses.csv'), { map: { postcode: 'CP' } }))).toMatch(/adresses\.csv:1: no column "CP" for postcode — fix --map postcode=CP/);
  });

  it('fails on malformed rows with their line numbers, and never quotes their content', () => {
    const message = failure(() => readAddresses(fixture('ligne-malformee.csv')));
    expect(message).toContain('ligne-malformee.csv:3: 4 field(s) where the header has 5');
    expect(message).toContain('ligne-malformee.csv:4: column "postcode" is empty — every row needs a postcode (or map another column with --map postcode=<header>)');
    expect(message).not.toMatch(/Dupont|Müller|Jaurès/);
  });

  it('fails on an empty file, a header alone, an unclosed quote', () => {
    expect(failure(() => readAddresses(fixture('vide.csv')))).toMatch(/vide\.csv: the file is empty/);
    expect(failure(() => readAddresses(csv('name,address1,address2,postcode,city\n')))).toMatch(/no address follows/);
    expect(failure(() => readAddresses(csv('name,address1,postcode,city\n"Hélène,1 rue,69000,Lyon\n')))).toMatch(/:2: a double quote opens a field that never closes/);
  });

  it('fails on UTF-16, spreadsheets and control characters', () => {
    expect(failure(() => readAddresses(csv(Buffer.from('\uFEFFname,address1\n', 'utf16le'))))).toMatch(/NUL bytes \(UTF-16 or binary\)/);
    expect(failure(() => readAddresses(csv(Buffer.from('PK\x03\x04 rest of a zip', 'latin1'))))).toMatch(/spreadsheet \(xlsx\/ods\), not CSV/);
    expect(failure(() => readAddresses(csv(Buffer.from('name,address1,postcode,city\nA\x81B,1 rue,69000,Lyon\n', 'latin1'))))).toMatch(/:2: column "name" has a control character/);
  });

  it('reports duplicates (case and accents aside) by line, or drops them when asked', () => {
    expect(failure(() => readAddresses(fixture('doublons.csv')))).toContain('doublons.csv:4: same name and address as line 2');
    const list = readAddresses(fixture('doublons.csv'), { dropDuplicates: true });
    expect(list.addresses).toHaveLength(2);
    expect(list.droppedDuplicates).toBe(1);
  });

  it('fails on a line longer than La Poste reads', () => {
    expect(failure(() => readAddresses(csv(`name,address1,postcode,city\n${'A'.repeat(39)},1 rue,69000,Lyon\n`)))).toMatch(/:2: a line of the address is 39 characters long — La Poste reads at most 38/);
  });

  it('decodes Latin-1 bytes as Windows-1252', () => {
    expect(decodeCsv(Buffer.from([0x45, 0x67, 0x6c, 0x69, 0x73, 0x65, 0x20, 0xc9, 0x20, 0x80, 0x8c, 0x9c]), 'x.csv')).toEqual({ text: 'Eglise É €Œœ', encoding: 'windows-1252' });
  });
});

describe('--map', () => {
  it.each([
    ['name', /"name" is not field=Header/],
    ['nom=Nom', /unknown field "nom"; fields are name, address1, address2, postcode, city/],
    ['name=Nom,name=Prénom', /field "name" is mapped twice/],
    ['postcode=', /"postcode=" is not field=Header/],
  ])('fails on %s', (spec, message) => {
    expect(failure(() => parseFieldMap([spec]))).toMatch(message);
  });
});
