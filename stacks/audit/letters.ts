// The paper part of the audit (npm run audit --letters DIR): a print run of `npm run invitations`
// read back as the two print stations received it. Every file of each side is read as text (PDFs
// through pdftotext, as printed), and searched for what belongs to the other side only: a code on
// the envelopes' side, a name on the codes' side. These are observations; AUD-LETTERS-APART decides.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { InputError } from '../../core/errors.js';
import { formatCode } from '../../invitations/codes.js';
import { CODES_DIR, ENVELOPES_DIR, PARTICIPANTS_CSV, readCodesStore, readEnvelopesStore, sideFolder } from '../../invitations/outputs.js';

export interface LetterFile {
  readonly side: 'codes' | 'envelopes' | 'administrator';
  readonly file: string;
  /** Codes found in it (at most 3 given), on a side that must hold none. */
  readonly codesFound: readonly string[];
  /** Names of addressees found in it (at most 3 given), on a side that must hold none. */
  readonly namesFound: readonly string[];
}

export interface LettersObservation {
  readonly dir: string;
  readonly codes: number;
  readonly envelopes: number;
  readonly files: readonly LetterFile[];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** What a file says, as printed: a PDF's text through pdftotext, anything else as UTF-8. */
function textOf(file: string): string {
  if (!file.endsWith('.pdf')) return readFileSync(file, 'utf8');
  const r = spawnSync('pdftotext', ['-q', file, '-'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new InputError(`--letters: pdftotext is needed to read ${file} as printed: apt-get install -y poppler-utils`);
  return r.stdout;
}

export function observeLetters(dir: string): LettersObservation {
  if (!existsSync(dir)) throw new InputError(`--letters ${dir}: no such directory; give the directory npm run invitations -- generate wrote (with its ${CODES_DIR}/ and ${ENVELOPES_DIR}/ folders)`);
  const codesDir = sideFolder(dir, 'codes');
  const envelopesDir = sideFolder(dir, 'envelopes');
  const codes = readCodesStore(codesDir).sheets.flatMap((s) => s.codes).filter((c): c is string => c !== null);
  const names = readEnvelopesStore(envelopesDir).sheets.flatMap((s) => s.addresses).filter((a) => a !== null).map((a) => a!.name).filter((n) => n.length >= 3);
  const spellings = codes.map((c) => [c, formatCode(c)] as const);
  const search = (side: LetterFile['side'], file: string, forCodes: boolean, forNames: boolean): LetterFile => {
    const text = textOf(file);
    const flat = text.replace(/\s+/g, ' ');
    return {
      side, file: relative(dir, file),
      codesFound: forCodes ? spellings.filter(([c, f]) => text.includes(c) || flat.includes(f)).slice(0, 3).map(([c]) => c) : [],
      namesFound: forNames ? names.filter((n) => flat.includes(n)).slice(0, 3) : [],
    };
  };
  const files = [
    ...filesUnder(codesDir).map((f) => search('codes', f, false, true)),
    ...filesUnder(envelopesDir).map((f) => search('envelopes', f, true, false)),
    // The LimeSurvey administrator's file holds every code: it must hold no name.
    ...[join(dir, PARTICIPANTS_CSV)].filter(existsSync).map((f) => search('administrator', f, false, true)),
  ];
  return { dir, codes: codes.length, envelopes: names.length, files };
}
