// A city file as bytes, then text, then a YAML document that can point at its own lines. Every
// problem found on the way (unreadable file, UTF-16, a replacement character, YAML syntax) is an
// issue with its line, never an exception with a stack trace.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Parser, type Document } from 'yaml';
import { conversionCommand, decodeText, REPLACEMENT_CHARACTER, type TextEncoding } from '../../core/text-encoding.js';
import { show, type ConfigIssue, type Keys } from './issues.js';

/** A parsed file that can point at its own lines. */
export class SourceFile {
  constructor(readonly name: string, readonly doc: Document, readonly lines: LineCounter, readonly encoding: TextEncoding) {}

  /** Line and column of the deepest existing node on `keys` (the key itself for map entries). */
  position(keys: Keys): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let offset = (node as any)?.range?.[0] ?? 0;
    for (const key of keys) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
        if (!pair) break;
        offset = (pair.key as any)?.range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node)) {
        const item = node.items[Number(key)];
        if (!item) break;
        offset = (item as any).range?.[0] ?? offset;
        node = item;
      } else break;
    }
    return this.lines.linePos(offset);
  }

  /** `file:line` of a field, for messages written after loading (policy, synth). */
  locate(keys: Keys): string {
    return `${this.name}:${this.position(keys).line}`;
  }

  issue(keys: Keys, expected: string, fix: string, got?: string): ConfigIssue {
    return { file: this.name, ...this.position(keys), path: keys.join('.') || '(root)', expected, got, fix };
  }
}

export type ReadResult = { src: SourceFile; raw: Record<string, unknown>; issues: [] } | { src?: SourceFile; raw: undefined; issues: ConfigIssue[] };

function fileIssue(file: string, line: number, col: number, expected: string, got: string, fix: string): ConfigIssue {
  return { file, line, col, path: '(file)', expected, got, fix };
}

function* quotedScalars(token: unknown): Generator<{ type: string; offset: number; source: string }> {
  if (Array.isArray(token)) for (const t of token) yield* quotedScalars(t);
  else if (token && typeof token === 'object') {
    const t = token as { type?: unknown; offset: number; source: string };
    if (t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') yield t as { type: string; offset: number; source: string };
    for (const value of Object.values(token)) yield* quotedScalars(value);
  }
}

function closes(scalar: { type: string; source: string }): boolean {
  const quote = scalar.type === 'double-quoted-scalar' ? '"' : "'";
  const body = scalar.source.trimEnd();
  if (body.length < 2 || !body.endsWith(quote)) return false;
  // In double quotes, \" does not close; in single quotes '' is an escaped quote, handled by YAML's own lexer.
  return quote === "'" || (body.slice(1, -1).match(/\\*$/)![0].length % 2 === 0);
}

/**
 * Where an unclosed quote opens: YAML reports it where the file ends, the sysadmin needs the line
 * where the quote was typed.
 */
function openingQuoteOffset(text: string, before: number): number | undefined {
  let found: number | undefined;
  for (const token of new Parser().parse(text)) {
    for (const scalar of quotedScalars(token)) if (scalar.offset < before && !closes(scalar)) found = scalar.offset;
  }
  return found;
}

function yamlIssues(text: string, doc: Document, lines: LineCounter, file: string): ConfigIssue[] {
  return doc.errors.map((e) => {
    const quote = e.code === 'MISSING_CHAR' && /quote/i.test(e.message) ? openingQuoteOffset(text, e.pos[0] + 1) : undefined;
    const { line, col } = lines.linePos(quote ?? e.pos[0]);
    const fix = e.code === 'DUPLICATE_KEY' ? 'remove one of the duplicated keys'
      : quote !== undefined ? 'close the quote on this line (or remove it): an unclosed quote swallows the rest of the file'
        : 'fix the YAML syntax at this position (indentation, quotes, colons)';
    const got = quote !== undefined ? `a quote opened here that never closes (${e.message.split('\n')[0]})` : e.message.split('\n')[0];
    return { file, line, col, path: '(yaml)', expected: 'valid YAML', got, fix };
  });
}

/** Reads, decodes and parses one city file; problems come back as issues, with their lines. */
export function readCityFile(file: string, displayName: string): ReadResult {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (err as Error).message;
    return { raw: undefined, issues: [fileIssue(displayName, 1, 1, 'a readable YAML city file', reason, 'check the path given to --config (a file, or a directory of .yaml files)')] };
  }
  const decoded = decodeText(bytes);
  if (!decoded.ok) {
    const fix = decoded.encoding.startsWith('UTF-')
      ? `convert it to UTF-8: ${conversionCommand(decoded.encoding, displayName)}, then use the .utf8 file (or save it as UTF-8 from the editor)`
      : 'give a YAML text file: this one holds NUL bytes';
    return { raw: undefined, issues: [fileIssue(displayName, 1, 1, 'a text file in UTF-8 (or Windows-1252)', `a file in ${decoded.encoding}`, fix)] };
  }
  const { text, encoding } = decoded;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  // A U+FFFD in the text is damage done before Socle read the file (a lossy conversion): it would
  // print as "�" in the legal notice. Refuse it where it is.
  const replacement = text.indexOf(REPLACEMENT_CHARACTER);
  if (replacement >= 0) {
    const { line, col } = lines.linePos(replacement);
    return { raw: undefined, issues: [fileIssue(displayName, line, col, 'text without the replacement character "\uFFFD"', 'a character an earlier conversion could not decode',
      'retype the accented letter on this line: the file was converted with a wrong encoding before (open it in an editor set to UTF-8)')] };
  }
  const src = new SourceFile(displayName, doc, lines, encoding);
  if (doc.errors.length > 0) return { src, raw: undefined, issues: yamlIssues(text, doc, lines, displayName) };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { src, raw: undefined, issues: [src.issue([], 'a plain YAML document', 'remove the YAML aliases (*name) and anchors (&name): write each value out', (err as Error).message)] };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { src, raw: undefined, issues: [src.issue([], 'a mapping with commune, domain, hosts, registry, mail, tls and services', 'start from examples/ville-exemple.yaml', raw === null ? 'an empty document' : show([], raw))] };
  }
  return { src, raw: raw as Record<string, unknown>, issues: [] };
}
