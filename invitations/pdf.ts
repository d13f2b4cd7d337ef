// The two printable documents: code cards (codes.pdf) and envelope addresses (envelopes.pdf).
// Each takes only its own data, so no page can ever show a name next to a code. A sheet is drawn
// from its stored data by the same function at generation and at reprint, in a document whose
// metadata and font subset do not depend on the date or on the other sheets: a reprinted sheet is
// the same page, byte for byte.
import { closeSync, openSync, writeSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import PDFDocument from 'pdfkit';
import { ALPHABET, formatCode } from './codes.js';
import type { Address } from './addresses.js';
import { A4, CARD, MM, type EnvelopeLayout } from './layouts.js';

export { CARD, ENVELOPE_LAYOUTS, type EnvelopeLayout } from './layouts.js';

const FONTS = {
  text: fileURLToPath(new URL('./fonts/DejaVuSans.ttf', import.meta.url)),
  code: fileURLToPath(new URL('./fonts/DejaVuSansMono-Bold.ttf', import.meta.url)),
};
/** Fixed, so that two runs (or a run and a reprint) write the same metadata and file ID. */
const FIXED_DATE = new Date('2000-01-01T00:00:00Z');

/**
 * Glyphs put in each font's subset, in this order, before any page is drawn: the subset numbers
 * glyphs by first use, so without this a page's content would depend on the pages before it.
 * Printable ASCII, Latin-1 and the Windows-1252 extras: every character a French address uses.
 */
const LATIN = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)),
  ...Array.from({ length: 96 }, (_, i) => String.fromCharCode(160 + i)), ...'ŒœŠšŽžŸƒ€‘’‚“”„–—…•†‡‰‹›™'].join('');
const PRESEED: Record<keyof typeof FONTS, string> = { text: LATIN, code: ALPHABET + LATIN };

// ---------------------------------------------------------------------------------------------
// Layouts

const CARD_GRID = { left: (A4.width - CARD.columns * CARD.width) / 2, top: (A4.height - CARD.rows * CARD.height) / 2 };
const LABEL = { columns: 3, rows: 8, width: 70 * MM, height: 36 * MM, top: 4.5 * MM } as const;
const WINDOW = { left: 110 * MM, top: 50 * MM, width: 90 * MM, height: 40 * MM } as const;

/** Where a sheet belongs, printed in its margin for the print room. */
export interface SheetPosition {
  readonly batch: number;
  readonly sheet: number;
  readonly sheetsInBatch: number;
}

export interface CodeSheet extends SheetPosition {
  /** Canonical codes, one per card, fewer on a batch's last sheet; null marks a voided card. */
  readonly codes: readonly (string | null)[];
}

export interface EnvelopeSheet extends SheetPosition {
  readonly addresses: readonly (Address | null)[];
}

export interface CardText {
  /** First line of every card, e.g. "Consultation citoyenne de Ville-Exemple". */
  readonly title: string;
  /** https URL of the survey on the city's own domain. */
  readonly surveyUrl: string;
  /** The same survey as an onion service, when the city runs one. */
  readonly onion?: string;
}

export interface EnvelopeText {
  readonly layout: EnvelopeLayout;
  /** Return address printed small above the address in the window (c5-window only). */
  readonly sender?: string;
}

// ---------------------------------------------------------------------------------------------
// Document plumbing

type Doc = PDFKit.PDFDocument;
type FontName = keyof typeof FONTS;

/** The parts of pdfkit's embedded font (private API) the glyph writer fills as pdfkit would. */
interface EmbeddedFont {
  readonly id: string;
  readonly scale: number;
  readonly ascender: number;
  readonly font: { glyphForCodePoint(cp: number): { id: number; advanceWidth: number } };
  readonly subset: { includeGlyph(id: number): number };
  readonly widths: number[];
  readonly unicode: number[][];
  ref(): unknown;
}

interface Glyph { readonly bytes: string; readonly width: number }

/** A line as it goes into the page: a PDF string of 2-byte glyph ids, and its width at size 1000. */
interface Run { readonly literal: string; readonly width: number }

/** Lines repeated on every card or page (title, URL, labels) are encoded once per this many. */
const RUN_CACHE_SIZE = 512;

/**
 * Writes text straight into the page content, one glyph per character, no shaping or kerning.
 * pdfkit's text() lays out every word with fontkit and caches it forever: for 84,000 unique codes
 * and 80,000 names that took minutes and hundreds of MB. Addresses and codes need neither
 * ligatures nor kerning; the fonts, widths and ToUnicode map are pdfkit's own, so text extraction
 * (pdftotext, copy-paste, screen readers) still works.
 */
class GlyphWriter {
  private readonly glyphs = new Map<number, Glyph>();
  private readonly runs = new Map<string, Run>();
  private readonly font: EmbeddedFont;

  constructor(doc: Doc, name: FontName) {
    doc.font(name);
    this.font = (doc as unknown as { _font: EmbeddedFont })._font;
    for (const c of PRESEED[name]) this.glyph(c.codePointAt(0)!);
  }

  private glyph(codePoint: number): Glyph {
    let g = this.glyphs.get(codePoint);
    if (!g) {
      const glyph = this.font.font.glyphForCodePoint(codePoint);
      const gid = this.font.subset.includeGlyph(glyph.id);
      const width = glyph.advanceWidth * this.font.scale;
      this.font.widths[gid] ??= width;
      this.font.unicode[gid] ??= [codePoint];
      // Identity-H: each glyph is its subset id on two bytes; \ ( ) are the bytes a literal
      // string must escape.
      const bytes = String.fromCharCode(gid >> 8, gid & 0xff).replace(/[\\()]/g, '\\$&');
      g = { bytes, width };
      this.glyphs.set(codePoint, g);
    }
    return g;
  }

  run(text: string): Run {
    let r = this.runs.get(text);
    if (!r) {
      let literal = '';
      let width = 0;
      for (const c of text) {
        const g = this.glyph(c.codePointAt(0)!);
        literal += g.bytes;
        width += g.width;
      }
      r = { literal, width };
      if (this.runs.size >= RUN_CACHE_SIZE) this.runs.clear();
      this.runs.set(text, r);
    }
    return r;
  }

  /**
   * Queues a run with its top at y (pdfkit's top-down coordinates), grey from 0 (black) to 1.
   * The page's text goes into its content in one write (flushText): pdfkit converts every string
   * it is given byte by byte, which was a tenth of the time.
   */
  draw(w: Writers, run: Run, x: number, y: number, size: number, grey: number): void {
    const page = w.doc.page as unknown as { fonts: Record<string, unknown> };
    page.fonts[this.font.id] ??= this.font.ref();
    const baseline = y + (this.font.ascender / 1000) * size;
    // pdfkit flips the page upside down (y grows downwards); the -1 in the text matrix flips the
    // glyphs back upright.
    w.text.push(`BT ${grey.toFixed(3)} g /${this.font.id} ${size.toFixed(2)} Tf 1 0 0 -1 ${x.toFixed(2)} ${baseline.toFixed(2)} Tm (${run.literal}) Tj ET`);
  }
}

interface Writers {
  readonly doc: Doc;
  readonly fonts: Record<FontName, GlyphWriter>;
  /** Text operators of the page being drawn, written by flushText. */
  readonly text: string[];
}

/** The private fields of pdfkit's stream object (PDFReference) for the page being drawn. */
interface ContentStream { buffer: Uint8Array[]; data: { Filter?: string; Length?: number }; write(chunk: Uint8Array): void }

const contentOf = (doc: Doc) => (doc.page as unknown as { content: ContentStream }).content;

function flushText(w: Writers): void {
  if (w.text.length === 0) return;
  // Latin-1 maps each character of the glyph-id strings to the byte it stands for.
  contentOf(w.doc).write(Buffer.from(`${w.text.join('\n')}\n`, 'latin1'));
  w.text.length = 0;
}

/** Output gathered before one write to the file. */
const WRITE_BLOCK_BYTES = 1 << 20;

/**
 * The document and where its bytes go. pdfkit emits one small chunk per object; they are written
 * in 1 MB blocks with plain synchronous writes, so the output never piles up in memory (pdfkit
 * ignores stream back-pressure) and no time goes to stream bookkeeping.
 */
function openDocument(file: string, title: string): { writers: Writers; finished: Promise<void> } {
  const doc = new PDFDocument({
    // Compression is ours (compressPage), one deflate per page at a faster level than pdfkit's.
    size: 'A4', margin: 0, autoFirstPage: false, compress: false,
    info: { Title: title, Creator: 'Socle invitations', Producer: 'Socle', CreationDate: FIXED_DATE, ModDate: FIXED_DATE },
  });
  for (const [name, path] of Object.entries(FONTS)) doc.registerFont(name, path);
  const writers: Writers = { doc, fonts: { text: new GlyphWriter(doc, 'text'), code: new GlyphWriter(doc, 'code') }, text: [] };
  const fd = openSync(file, 'w');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pendingBytes > 0) writeSync(fd, Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  doc.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= WRITE_BLOCK_BYTES) flush();
  });
  const finished = new Promise<void>((resolve, reject) => {
    doc.on('end', () => {
      try {
        flush();
        closeSync(fd);
        resolve();
      } catch (err) {
        reject(err);
      }
    });
    doc.on('error', reject);
  });
  return { writers, finished };
}

/**
 * Level 1: a sheet of cards is 10 times the same few lines, which the fastest level already packs
 * 10:1; pdfkit's default level 6 took half the time of a whole run.
 */
const PAGE_DEFLATE = { level: 1 } as const;
const MIN_DEFLATE_BYTES = 2048;

/**
 * Deflates the finished page's content in one call. pdfkit finalizes the page later and writes
 * the buffer as is: with `compress: false` it does not touch a stream that already has a Filter.
 */
function compressPage(doc: Doc): void {
  const content = contentOf(doc);
  const raw = Buffer.concat(content.buffer);
  // A letter's page (one address) is a few hundred bytes: zlib's set-up would cost more than the
  // bytes it saves, 80,000 times over.
  if (raw.length < MIN_DEFLATE_BYTES) return;
  const packed = deflateSync(raw, PAGE_DEFLATE);
  content.buffer = [packed];
  content.data.Filter = 'FlateDecode';
  content.data.Length = packed.length;
}

/**
 * Once pdfkit has written a page (addPage ends the previous one), the page tree only needs its
 * object number; dropping what the objects held keeps 80,000 pages from holding 4 KB each.
 */
function releaseWrittenPage(page: PDFKit.PDFPage): void {
  const refs = page as unknown as Record<'dictionary' | 'content' | 'resources', { data: object }>;
  for (const key of ['dictionary', 'content', 'resources'] as const) refs[key].data = {};
}

interface LineOptions {
  readonly size: number;
  readonly width: number;
  readonly align?: 'left' | 'center';
  /** 0 black .. 1 white. @default 0 */
  readonly grey?: number;
}

/** One line of text, shrunk until it fits `width` (a long URL or name never overflows its card). */
function line(w: Writers, font: FontName, text: string, x: number, y: number, options: LineOptions): void {
  const writer = w.fonts[font];
  const run = writer.run(text);
  const natural = (run.width * options.size) / 1000;
  const size = natural <= options.width ? options.size : Math.floor((options.size * options.width * 10) / natural) / 10;
  const left = options.align === 'center' ? x + (options.width - (run.width * size) / 1000) / 2 : x;
  writer.draw(w, run, left, y, size, options.grey ?? 0);
}

function sheetLabel(side: string, p: SheetPosition): string {
  return `${side} — lot ${p.batch} / batch ${p.batch} — feuille ${p.sheet}/${p.sheetsInBatch} / sheet ${p.sheet} of ${p.sheetsInBatch}`;
}

async function renderSheets<S>(file: string, title: string, sheets: Iterable<S>, draw: (w: Writers, sheet: S) => void, onSheet?: (sheet: S) => void): Promise<void> {
  const { writers, finished } = openDocument(file, title);
  const { doc } = writers;
  let drawn = 0;
  for (const sheet of sheets) {
    const previous = doc.page;
    doc.addPage();
    if (previous) releaseWrittenPage(previous);
    draw(writers, sheet);
    flushText(writers);
    compressPage(doc);
    onSheet?.(sheet);
    // pdfkit holds its output until the event loop turns; a turn every few sheets bounds it.
    if (++drawn % 25 === 0) await new Promise((r) => setImmediate(r));
  }
  if (drawn === 0) doc.addPage();
  doc.end();
  await finished;
}

// ---------------------------------------------------------------------------------------------
// Code cards

function drawCutMarks(doc: Doc): void {
  const { left, top } = CARD_GRID;
  const right = left + CARD.columns * CARD.width;
  const bottom = top + CARD.rows * CARD.height;
  const gap = 2 * MM;
  const length = 6 * MM;
  doc.lineWidth(0.4).strokeColor('black');
  for (let c = 0; c <= CARD.columns; c++) {
    const x = left + c * CARD.width;
    doc.moveTo(x, top - gap - length).lineTo(x, top - gap).stroke();
    doc.moveTo(x, bottom + gap).lineTo(x, bottom + gap + length).stroke();
  }
  for (let r = 0; r <= CARD.rows; r++) {
    const y = top + r * CARD.height;
    doc.moveTo(left - gap - length, y).lineTo(left - gap, y).stroke();
    doc.moveTo(right + gap, y).lineTo(right + gap + length, y).stroke();
  }
}

function drawCard(w: Writers, code: string, x: number, y: number, text: CardText): void {
  const pad = 5 * MM;
  const width = CARD.width - 2 * pad;
  let at = y + pad;
  line(w, 'text', text.title, x + pad, at, { size: 9, width });
  at += 5 * MM;
  line(w, 'text', 'Votre code de participation · Your participation code', x + pad, at, { size: 6.5, width, grey: 0.27 });
  at += 5 * MM;
  line(w, 'code', formatCode(code), x + pad, at, { size: 19, width, align: 'center' });
  at += 8 * MM;
  // LimeSurvey looks the access code up as entered: the dashes only help reading it.
  line(w, 'text', 'Saisissez-le sans les tirets · Type it without the dashes', x + pad, at, { size: 6, width, align: 'center', grey: 0.27 });
  at += 3.5 * MM;
  line(w, 'text', 'Répondez sur · Answer at', x + pad, at, { size: 6.5, width, grey: 0.27 });
  at += 3.5 * MM;
  line(w, 'text', text.surveyUrl, x + pad, at, { size: 8.5, width });
  if (text.onion) {
    at += 4.5 * MM;
    line(w, 'text', `Tor : ${text.onion}`, x + pad, at, { size: 6.5, width });
  }
  line(w, 'text', 'Code anonyme, valable une seule fois · Anonymous code, single use', x + pad, y + CARD.height - pad - 2 * MM, { size: 5.5, width, grey: 0.27 });
}

function drawVoidCard(w: Writers, x: number, y: number): void {
  line(w, 'text', 'Carte annulée · Void card', x, y + CARD.height / 2 - 2 * MM, { size: 8, width: CARD.width, align: 'center', grey: 0.53 });
}

function drawCodeSheet(w: Writers, sheet: CodeSheet, text: CardText): void {
  line(w, 'text', sheetLabel('Codes', sheet), CARD_GRID.left, 3 * MM, { size: 6.5, width: CARD.columns * CARD.width, grey: 0.27 });
  drawCutMarks(w.doc);
  sheet.codes.forEach((code, i) => {
    const x = CARD_GRID.left + (i % CARD.columns) * CARD.width;
    const y = CARD_GRID.top + Math.floor(i / CARD.columns) * CARD.height;
    if (code) drawCard(w, code, x, y, text);
    else drawVoidCard(w, x, y);
  });
}

/** Writes code cards, one A4 page per sheet, in the order given. */
export function renderCodeSheets(file: string, sheets: Iterable<CodeSheet>, text: CardText, onSheet?: (s: CodeSheet) => void): Promise<void> {
  return renderSheets(file, `${text.title} — codes`, sheets, (w, s) => drawCodeSheet(w, s, text), onSheet);
}

// ---------------------------------------------------------------------------------------------
// Envelopes

/** The address as La Poste wants it: name, street lines, then postcode and city. */
function addressLines(a: Address): string[] {
  return [a.name, a.address1, a.address2, `${a.postcode} ${a.city}`].filter((l) => l !== '');
}

function drawAddress(w: Writers, a: Address, x: number, y: number, width: number, size: number): void {
  const step = size * 1.25;
  addressLines(a).forEach((l, i) => line(w, 'text', l, x, y + i * step, { size, width }));
}

function drawEnvelopeSheet(w: Writers, sheet: EnvelopeSheet, text: EnvelopeText): void {
  if (text.layout === 'c5-window') {
    const address = sheet.addresses[0];
    if (text.sender) line(w, 'text', text.sender, WINDOW.left, WINDOW.top - 6 * MM, { size: 6.5, width: WINDOW.width, grey: 0.27 });
    if (address) drawAddress(w, address, WINDOW.left, WINDOW.top, WINDOW.width, 10.5);
    line(w, 'text', sheetLabel('Enveloppes / envelopes', sheet), 15 * MM, A4.height - 8 * MM, { size: 6.5, width: A4.width - 30 * MM, grey: 0.27 });
    return;
  }
  line(w, 'text', sheetLabel('Étiquettes / labels', sheet), 8 * MM, 1.2 * MM, { size: 6, width: A4.width - 16 * MM, grey: 0.27 });
  const left = (A4.width - LABEL.columns * LABEL.width) / 2;
  const pad = 6 * MM;
  sheet.addresses.forEach((address, i) => {
    if (!address) return;
    const x = left + (i % LABEL.columns) * LABEL.width;
    const y = LABEL.top + Math.floor(i / LABEL.columns) * LABEL.height;
    drawAddress(w, address, x + pad, y + 7 * MM, LABEL.width - 2 * pad, 9);
  });
}

/** Writes envelope addresses in the chosen layout, one A4 page per sheet, in the order given. */
export function renderEnvelopeSheets(file: string, sheets: Iterable<EnvelopeSheet>, text: EnvelopeText, onSheet?: (s: EnvelopeSheet) => void): Promise<void> {
  return renderSheets(file, 'Invitations — envelopes', sheets, (w, s) => drawEnvelopeSheet(w, s, text), onSheet);
}
