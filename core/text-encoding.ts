// Decoding the text files town halls hand over (city files, address lists): UTF-8, with or without
// a byte-order mark, or Windows-1252, what Excel and most Windows editors in France still write.
// UTF-16 and UTF-32 are recognised only to be refused by name: the caller says how to convert.

export type TextEncoding = 'utf-8' | 'windows-1252';

/** What a file's bytes are, when they are not text this module decodes. */
export type RefusedEncoding = 'UTF-16LE' | 'UTF-16BE' | 'UTF-32LE' | 'UTF-32BE' | 'binary (NUL bytes)';

export type DecodedText =
  | { readonly ok: true; readonly text: string; readonly encoding: TextEncoding }
  | { readonly ok: false; readonly encoding: RefusedEncoding };

/** The replacement character a lossy decode leaves where a byte made no sense. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Windows-1252 is Latin-1 except for 0x80-0x9F, where it has € ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ' ' " " • – —
 * ˜ ™ š › œ ž Ÿ. Node's TextDecoder('windows-1252') decodes that range as Latin-1 control codes,
 * which would lose every Œ and œ of a French text. The five unassigned bytes stay controls.
 */
const CP1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ';

function decodeWindows1252(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += b >= 0x80 && b <= 0x9f ? CP1252_HIGH[b - 0x80] : String.fromCharCode(b);
  return text;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

/**
 * UTF-16/32 by byte-order mark, or without one by where the NUL bytes fall: text that is mostly
 * ASCII has a NUL in every other byte (UTF-16) or three of every four (UTF-32).
 */
function wideEncodingOf(bytes: Uint8Array): RefusedEncoding | undefined {
  if (startsWith(bytes, [0xff, 0xfe, 0x00, 0x00])) return 'UTF-32LE';
  if (startsWith(bytes, [0x00, 0x00, 0xfe, 0xff])) return 'UTF-32BE';
  if (startsWith(bytes, [0xff, 0xfe])) return 'UTF-16LE';
  if (startsWith(bytes, [0xfe, 0xff])) return 'UTF-16BE';
  if (!bytes.includes(0)) return undefined;
  const nulAt = [0, 0, 0, 0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0) nulAt[i % 4]++;
  const quarter = bytes.length / 4;
  const mostly = (n: number) => n >= quarter * 0.9;
  if (mostly(nulAt[1]) && mostly(nulAt[2]) && mostly(nulAt[3])) return 'UTF-32LE';
  if (mostly(nulAt[0]) && mostly(nulAt[1]) && mostly(nulAt[2])) return 'UTF-32BE';
  if (mostly(nulAt[1]) && mostly(nulAt[3])) return 'UTF-16LE';
  if (mostly(nulAt[0]) && mostly(nulAt[2])) return 'UTF-16BE';
  return 'binary (NUL bytes)';
}

/**
 * UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), else Windows-1252, which decodes any
 * byte. UTF-16, UTF-32 and binary files are refused rather than decoded into nonsense.
 */
export function decodeText(bytes: Uint8Array): DecodedText {
  const wide = wideEncodingOf(bytes);
  if (wide) return { ok: false, encoding: wide };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { ok: true, text: text.replace(/^\uFEFF/, ''), encoding: 'utf-8' };
  } catch {
    return { ok: true, text: decodeWindows1252(bytes), encoding: 'windows-1252' };
  }
}

/**
 * The `iconv` command that converts a refused file to UTF-8, for the fix of a message. The byte
 * order is named: without a BOM, iconv's plain UTF-16 would guess big-endian.
 */
export function conversionCommand(encoding: RefusedEncoding, file: string): string {
  return `iconv -f ${encoding.startsWith('UTF-') ? encoding : 'ENCODING'} -t UTF-8 ${file} > ${file}.utf8`;
}
