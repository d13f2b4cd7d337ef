// The address list a town hall exports from its electoral or population register: CSV with a header
// row, UTF-8 or Windows-1252 (what Excel and most municipal software write in France), comma,
// semicolon or tab separated. Every problem is reported with its line and how to fix it; no
// message ever quotes a name or an address, only line numbers and column names.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../core/errors.js';
import { conversionCommand, decodeText, type TextEncoding } from '../core/text-encoding.js';

export const ADDRESS_FIELDS = ['name', 'address1', 'address2', 'postcode', 'city'] as const;
export type AddressField = (typeof ADDRESS_FIELDS)[number];
export type Address = Readonly<Record<AddressField, string>>;

/** address2 (building, staircase, lieu-dit) is often absent: the column itself may be missing. */
const OPTIONAL: ReadonlySet<AddressField> = new Set(['address2']);

/** La Poste reads at most 38 characters on each line of an address (norme NF Z10-011). */
const MAX_LINE_CHARS = 38;

/** Problems listed before "and N more": enough to fix a file in one pass, short enough to read. */
const MAX_ISSUES_SHOWN = 20;

export type Encoding = TextEncoding;

export interface AddressList {
  readonly addresses: Address[];
  readonly encoding: Encoding;
  readonly separator: string;
  /** Lines dropped because they repeat an earlier one (only with dropDuplicates). */
  readonly droppedDuplicates: number;
}

export interface ReadAddressesOptions {
  /** CSV header for each field, when it is not the field's own name (`--map postcode=CP`). */
  readonly map?: Partial<Record<AddressField, string>>;
  /** Keep the first of identical rows instead of stopping. @default false - duplicates are errors */
  readonly dropDuplicates?: boolean;
}

/** `name=Nom,postcode=CP` (repeatable) to a field → header map; exit 2 on anything else. */
export function parseFieldMap(specs: readonly string[]): Partial<Record<AddressField, string>> {
  const map: Partial<Record<AddressField, string>> = {};
  for (const item of specs.flatMap((s) => s.split(','))) {
    const eq = item.indexOf('=');
    const field = item.slice(0, eq).trim() as AddressField;
    const header = item.slice(eq + 1).trim();
    if (eq < 0 || !header) throw new InputError(`--map: "${item}" is not field=Header; for example --map name=Nom,postcode=CP`);
    if (!ADDRESS_FIELDS.includes(field)) throw new InputError(`--map: unknown field "${field}"; fields are ${ADDRESS_FIELDS.join(', ')}`);
    if (map[field] !== undefined) throw new InputError(`--map: field "${field}" is mapped twice`);
    map[field] = header;
  }
  return map;
}

/**
 * UTF-8 or Windows-1252 (see core/text-encoding.ts). A spreadsheet saved without converting, or a
 * UTF-16 export, is rejected with how to save it instead.
 */
export function decodeCsv(bytes: Uint8Array, file: string): { text: string; encoding: Encoding } {
  const name = basename(file);
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new InputError(`${name}: this is a spreadsheet (xlsx/ods), not CSV — in the spreadsheet, save as "CSV UTF-8 (comma delimited)"`);
  }
  const decoded = decodeText(bytes);
  if (!decoded.ok) {
    const conversion = decoded.encoding.startsWith('UTF-') ? `, or convert it: ${conversionCommand(decoded.encoding, name)}` : '';
    throw new InputError(`${name}: the file contains NUL bytes (UTF-16 or binary): it reads as ${decoded.encoding} — save it as "CSV UTF-8" or Windows-1252 CSV${conversion}`);
  }
  return { text: decoded.text, encoding: decoded.encoding };
}

interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
}

/** The separator the header uses most: `,` `;` or tab (French Excel writes `;`). */
function detectSeparator(text: string): string {
  const header = text.slice(0, text.search(/\r|\n|$/));
  const counts = [',', ';', '\t'].map((sep) => [sep, header.split(sep).length - 1] as const);
  return counts.reduce((best, c) => (c[1] > best[1] ? c : best))[0];
}

/** RFC 4180 records with the line each starts on; quoted fields may hold separators and newlines. */
function parseCsv(text: string, separator: string, file: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let quoteLine = 0;
  const endRecord = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0].trim() !== '') records.push({ line: recordLine, fields });
    fields = [];
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
      } else {
        if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) line++;
        field += c;
      }
    } else if (c === '"' && field.trim() === '') {
      field = '';
      quoted = true;
      quoteLine = line;
    } else if (c === separator) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      field += c;
    }
  }
  if (quoted) throw new InputError(`${basename(file)}:${quoteLine}: a double quote opens a field that never closes — close it, or double it ("") inside the field`);
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}

const COMBINING = /[\u0300-\u036f]/;
const FOLDED = new Map<string, string>();

/** Lower case without accents, one character at a time, each non-ASCII character folded once. */
function fold(value: string): string {
  let out = '';
  for (const c of value) {
    if (c.charCodeAt(0) < 128) {
      out += c;
      continue;
    }
    let f = FOLDED.get(c);
    if (f === undefined) {
      f = c.normalize('NFD').replace(/\p{M}/gu, '');
      FOLDED.set(c, f);
    }
    out += f;
  }
  return out.toLowerCase();
}

/** For duplicate detection: case, accents and spacing do not make two letters different. */
function comparable(a: Address): string {
  return `${fold(a.name)}\u0000${fold(a.address1)}\u0000${fold(a.address2)}\u0000${fold(a.postcode)}\u0000${fold(a.city)}`;
}

/** One value as printed: composed accents (some exports decompose them), single spaces. */
function cleanValue(raw: string): string {
  const composed = COMBINING.test(raw) ? raw.normalize('NFC') : raw;
  return /\s\s|^\s|\s$|[\t\n\r]/.test(composed) ? composed.replace(/\s+/g, ' ').trim() : composed;
}

function valueOf(row: CsvRecord, column: number): string {
  return column < 0 ? '' : cleanValue(row.fields[column]);
}

function longestLine(a: Address): number {
  return Math.max(a.name.length, a.address1.length, a.address2.length, a.postcode.length + 1 + a.city.length);
}

/** C0 and C1 controls: what a wrong encoding or a binary leftover decodes to. */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/** Reads, decodes and checks an address CSV; throws InputError listing every problem. */
export function readAddresses(file: string, options: ReadAddressesOptions = {}): AddressList {
  const name = basename(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new InputError(`${file}: cannot read the address list (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const { text, encoding } = decodeCsv(bytes, file);
  const expectedHeader = ADDRESS_FIELDS.map((f) => options.map?.[f] ?? f).join(',');
  if (text.trim() === '') throw new InputError(`${name}: the file is empty — it needs a header row (${expectedHeader}) and one row per letter`);
  const separator = detectSeparator(text);
  const [header, ...rows] = parseCsv(text, separator, file);

  const headers = header.fields.map((h) => h.trim());
  const columnOf = {} as Record<AddressField, number>;
  const issues: { line: number; message: string }[] = [];
  for (const field of ADDRESS_FIELDS) {
    const wanted = options.map?.[field] ?? field;
    const index = headers.findIndex((h) => h.toLowerCase() === wanted.toLowerCase());
    columnOf[field] = index;
    if (index >= 0 || OPTIONAL.has(field)) continue;
    const fix = options.map?.[field] !== undefined
      ? `fix --map ${field}=${wanted}: the header has ${headers.map((h) => `"${h}"`).join(', ')}`
      : `add it, or map another column with --map ${field}=<header>; the header has ${headers.map((h) => `"${h}"`).join(', ')}`;
    issues.push({ line: header.line, message: `no column "${wanted}" for ${field} — ${fix}` });
  }
  if (issues.length) throw new InputError(issues.map((i) => `${name}:${i.line}: ${i.message}`).join('\n'));
  if (rows.length === 0) throw new InputError(`${name}: the header is there but no address follows — one row per letter is needed`);

  // Controls are rare: look for them per field only when the file has one.
  const hasControl = CONTROL.test(text);
  const addresses: Address[] = [];
  const firstSeen = new Map<string, number>();
  let droppedDuplicates = 0;
  for (const row of rows) {
    const at = issues.length;
    if (row.fields.length !== headers.length) {
      issues.push({ line: row.line, message: `${row.fields.length} field(s) where the header has ${headers.length} — put double quotes around a value that contains "${separator === '\t' ? '\\t' : separator}", or check that the row is complete` });
      continue;
    }
    const address: Address = {
      name: valueOf(row, columnOf.name), address1: valueOf(row, columnOf.address1), address2: valueOf(row, columnOf.address2),
      postcode: valueOf(row, columnOf.postcode), city: valueOf(row, columnOf.city),
    };
    for (const f of ADDRESS_FIELDS) {
      if (hasControl && CONTROL.test(address[f])) {
        issues.push({ line: row.line, message: `column "${headers[columnOf[f]]}" has a control character: the file is neither UTF-8 nor Windows-1252 text — re-export it as "CSV UTF-8"` });
      } else if (!OPTIONAL.has(f) && address[f] === '') {
        const column = headers[columnOf[f]];
        const fix = column === f ? ` (or map another column with --map ${f}=<header>)` : '';
        issues.push({ line: row.line, message: `column "${column}"${column === f ? '' : ` (mapped from ${f})`} is empty — every row needs a ${f}${fix}` });
      }
    }
    const longest = longestLine(address);
    if (longest > MAX_LINE_CHARS) {
      issues.push({ line: row.line, message: `a line of the address is ${longest} characters long — La Poste reads at most ${MAX_LINE_CHARS} per line (NF Z10-011); abbreviate it in the file` });
    }
    if (issues.length > at) continue;
    const key = comparable(address);
    const first = firstSeen.get(key);
    if (first !== undefined) {
      if (options.dropDuplicates) droppedDuplicates++;
      else issues.push({ line: row.line, message: `same name and address as line ${first} — remove one, or pass --drop-duplicates to keep the first of each` });
      continue;
    }
    firstSeen.set(key, row.line);
    addresses.push(address);
  }
  if (issues.length) {
    const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((i) => `${name}:${i.line}: ${i.message}`);
    if (issues.length > MAX_ISSUES_SHOWN) shown.push(`... and ${issues.length - MAX_ISSUES_SHOWN} more problem(s) in ${name}`);
    throw new InputError(shown.join('\n'));
  }
  return { addresses, encoding, separator, droppedDuplicates };
}
