// What generate writes and reprint/void read back. The output directory has one folder per print
// station, and neither folder holds anything of the other side:
//   codes/       codes.pdf, codes-sheets.json (cards per sheet), void-N/ (void batches)
//   envelopes/   envelopes.pdf, envelopes-sheets.json (addresses per sheet)
//   limesurvey-participants.csv, manifest.json   for the LimeSurvey administrator
// Codes and addresses are shuffled separately and never stored together: there is no mapping to
// leak, on disk or anywhere else.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { InputError } from '../core/errors.js';
import { readAddresses, type AddressField, type Encoding } from './addresses.js';
import { generateCodes, type CodeLength } from './codes.js';
import { CARD, ENVELOPE_LAYOUTS, type EnvelopeLayout } from './layouts.js';
import type { CardText, CodeSheet, EnvelopeSheet, EnvelopeText } from './pdf.js';
import { shuffleInPlace } from './random.js';

export const CODES_DIR = 'codes';
export const ENVELOPES_DIR = 'envelopes';
export const CODES_PDF = 'codes.pdf';
export const ENVELOPES_PDF = 'envelopes.pdf';
export const CODES_STORE = 'codes-sheets.json';
const ENVELOPES_STORE = 'envelopes-sheets.json';
export const PARTICIPANTS_CSV = 'limesurvey-participants.csv';
export const MANIFEST = 'manifest.json';

export type Side = 'codes' | 'envelopes';

/** A flat list of sheets, `batchSize` items per batch, every batch starting on a new sheet. */
export function intoSheets<T>(items: readonly T[], batchSize: number, perSheet: number, firstBatch = 1): { batch: number; sheet: number; sheetsInBatch: number; items: T[] }[] {
  const sheets = [];
  for (let start = 0, batch = firstBatch; start < items.length; start += batchSize, batch++) {
    const inBatch = items.slice(start, start + batchSize);
    const sheetsInBatch = Math.ceil(inBatch.length / perSheet);
    for (let s = 0; s < sheetsInBatch; s++) sheets.push({ batch, sheet: s + 1, sheetsInBatch, items: inBatch.slice(s * perSheet, (s + 1) * perSheet) });
  }
  return sheets;
}

/** Everything needed to redraw any code sheet: the cards' text and the codes of each sheet. */
export interface CodesStore {
  readonly format: 'socle-invitation-codes/1';
  readonly card: CardText;
  /** Characters of a canonical code (random part plus check character). */
  readonly codeLength: number;
  readonly batchSize: number;
  /** Validity of the LimeSurvey tokens, reused for replacement codes. */
  readonly validity: Validity;
  readonly sheets: CodeSheet[];
  /** Codes taken out of use by `void`; their cards print as void. */
  readonly voided: string[];
}

/** Everything needed to redraw any envelope sheet. */
export interface EnvelopesStore {
  readonly format: 'socle-invitation-envelopes/1';
  readonly envelope: EnvelopeText;
  readonly batchSize: number;
  readonly sheets: EnvelopeSheet[];
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value)}\n`);
}

/**
 * The folder of one side, whether `from` is the generation directory or that folder itself: an
 * operator who was only handed `codes/` points at it directly.
 */
export function sideFolder(from: string, side: Side): string {
  const store = side === 'codes' ? CODES_STORE : ENVELOPES_STORE;
  for (const dir of [join(from, side), from]) if (existsSync(join(dir, store))) return dir;
  throw new InputError(`${from}: no ${side}/${store} here — point --from at the directory generate wrote (or at its ${side}/ folder)`);
}

export function readCodesStore(folder: string): CodesStore {
  const store = JSON.parse(readFileSync(join(folder, CODES_STORE), 'utf8')) as CodesStore;
  if (store.format !== 'socle-invitation-codes/1') throw new InputError(`${join(folder, CODES_STORE)}: not a codes store written by this version of Socle`);
  return store;
}

export function readEnvelopesStore(folder: string): EnvelopesStore {
  const store = JSON.parse(readFileSync(join(folder, ENVELOPES_STORE), 'utf8')) as EnvelopesStore;
  if (store.format !== 'socle-invitation-envelopes/1') throw new InputError(`${join(folder, ENVELOPES_STORE)}: not an envelopes store written by this version of Socle`);
  return store;
}

/** `YYYY-MM-DD` or `YYYY-MM-DD HH:MM`, as LimeSurvey's token model accepts it. */
export function parseValidity(flag: string, value: string | undefined, endOfDay: boolean): string | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/.exec(value.trim());
  const date = m && new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0)));
  if (!m || !date || date.getUTCMonth() !== +m[2] - 1 || date.getUTCDate() !== +m[3] || +(m[4] ?? 0) > 23 || +(m[5] ?? 0) > 59) {
    throw new InputError(`${flag}: "${value}" is not a date; write YYYY-MM-DD or "YYYY-MM-DD HH:MM", e.g. ${flag} 2027-01-10`);
  }
  return `${m[1]}-${m[2]}-${m[3]} ${m[4] ?? (endOfDay ? '23' : '00')}:${m[5] ?? (endOfDay ? '59' : '00')}`;
}

export interface Validity {
  readonly validFrom?: string;
  readonly validUntil?: string;
}

/**
 * LimeSurvey's participant import (Survey participants → Import → CSV): the header names are its
 * token table's columns (invited and reminded are renamed to sent and remindersent on import);
 * empty values are left to the survey's defaults. firstname, lastname and email stay empty: the
 * survey never learns who holds a code.
 */
const PARTICIPANT_COLUMNS = ['firstname', 'lastname', 'email', 'emailstatus', 'token', 'language', 'validfrom', 'validuntil', 'invited', 'reminded', 'remindercount', 'completed', 'usesleft'];

export function participantsCsv(codes: readonly string[], validity: Validity): string {
  // Sorted, so that the file says nothing about the order in which cards were printed.
  const rows = [...codes].sort().map((token) => ['', '', '', '', token, '', validity.validFrom ?? '', validity.validUntil ?? '', 'N', 'N', '0', 'N', '1'].join(','));
  return `${[PARTICIPANT_COLUMNS.join(','), ...rows].join('\n')}\n`;
}

/** Tokens to delete in LimeSurvey after a void. */
export function tokensCsv(codes: readonly string[]): string {
  return `${['token', ...[...codes].sort()].join('\n')}\n`;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Path (relative to `root`), size and SHA-256 of every file under `root`, sorted by path. */
export async function fileHashes(root: string, skip: ReadonlySet<string> = new Set()): Promise<Record<string, { bytes: number; sha256: string }>> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (!skip.has(basename(path))) files.push(relative(root, path));
    }
  };
  walk(root);
  const out: Record<string, { bytes: number; sha256: string }> = {};
  for (const f of files.sort()) out[f] = { bytes: statSync(join(root, f)).size, sha256: await sha256File(join(root, f)) };
  return out;
}

/** Counts per batch, as printed on each sheet's margin. */
export function batchLayout(sheets: readonly { batch: number; sheet: number; sheetsInBatch: number }[]): { batch: number; sheets: number }[] {
  return sheets.filter((s) => s.sheet === 1).map((s) => ({ batch: s.batch, sheets: s.sheetsInBatch }));
}

export interface StoreInput {
  readonly addressFile: string; readonly map: Partial<Record<AddressField, string>>; readonly dropDuplicates?: boolean;
  readonly codeCount: number; readonly length: CodeLength; readonly batchSize: number; readonly layout: EnvelopeLayout;
  readonly out: string; readonly codesDir: string; readonly envelopesDir: string;
  readonly card: CodesStore['card']; readonly envelope: EnvelopesStore['envelope']; readonly validity: Validity;
}

/**
 * Reads the addresses, draws the codes, shuffles both and writes each side's store and the
 * LimeSurvey file. Generate runs it in a worker thread and gets back counts only: the lists die
 * with the worker, before the PDFs are drawn, which keeps them out of the peak memory.
 */
export function writeStores(input: StoreInput): PreparedStores {
  const list = readAddresses(input.addressFile, { map: input.map, dropDuplicates: input.dropDuplicates });
  const addressCount = list.addresses.length;
  if (input.codeCount < addressCount) {
    const count = (n: number) => n.toLocaleString('en-US');
    throw new InputError(`--codes ${count(input.codeCount)} is fewer than the ${count(addressCount)} addresses: every envelope needs a card; use --codes ${count(Math.ceil(addressCount * 1.05))} (5% spare for spoiled cards) or at least ${count(addressCount)}`);
  }
  const { length } = input;

  // Two independent shuffles: the n-th card and the n-th envelope have nothing in common.
  const codes = shuffleInPlace(generateCodes(input.codeCount, length.randomChars));
  const addresses = shuffleInPlace(list.addresses);

  mkdirSync(input.codesDir, { recursive: true });
  mkdirSync(input.envelopesDir, { recursive: true });
  const codesStore: CodesStore = {
    format: 'socle-invitation-codes/1', card: input.card, codeLength: length.length, batchSize: input.batchSize, validity: input.validity,
    sheets: intoSheets(codes, input.batchSize, CARD.perSheet).map(({ items, ...p }) => ({ ...p, codes: items })), voided: [],
  };
  const envelopesStore: EnvelopesStore = {
    format: 'socle-invitation-envelopes/1', envelope: input.envelope, batchSize: input.batchSize,
    sheets: intoSheets(addresses, input.batchSize, ENVELOPE_LAYOUTS[input.layout].perSheet).map(({ items, ...p }) => ({ ...p, addresses: items })),
  };
  writeJson(join(input.codesDir, CODES_STORE), codesStore);
  writeJson(join(input.envelopesDir, ENVELOPES_STORE), envelopesStore);
  writeFileSync(join(input.out, PARTICIPANTS_CSV), participantsCsv(codes, input.validity));
  return {
    addresses: { count: addressCount, encoding: list.encoding, droppedDuplicates: list.droppedDuplicates },
    codeSheets: codesStore.sheets.length,
    envelopeSheets: envelopesStore.sheets.length,
    codeBatches: batchLayout(codesStore.sheets),
    envelopeBatches: batchLayout(envelopesStore.sheets),
  };
}

export interface PreparedStores {
  readonly addresses: { readonly count: number; readonly encoding: Encoding; readonly droppedDuplicates: number };
  readonly codeSheets: number;
  readonly envelopeSheets: number;
  readonly codeBatches: { batch: number; sheets: number }[];
  readonly envelopeBatches: { batch: number; sheets: number }[];
}
