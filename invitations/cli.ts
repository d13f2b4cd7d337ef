// The invitations command: anonymous invitation codes for a consultation by letter. Codes and
// addresses are printed by two separate stations from two separate folders, each shuffled on its
// own: no file, page or log line ever holds a name or an address together with a code.
// Entry points: invitations/main.ts (standalone), scripts/invitations.ts (Socle: --config CITY).
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError, UsageError, runCommand } from '../core/cli.js';
import { ADDRESS_FIELDS, parseFieldMap } from './addresses.js';
import { ALPHABET, canonicalCode, codeLength, formatCode, generateCodes, isValidCode, type CodeLength } from './codes.js';
import { CARD, ENVELOPE_LAYOUTS, type EnvelopeLayout } from './layouts.js';
import type { SheetPosition } from './pdf.js';
import {
  CODES_DIR, CODES_PDF, CODES_STORE, ENVELOPES_DIR, ENVELOPES_PDF, MANIFEST, PARTICIPANTS_CSV,
  batchLayout, fileHashes, intoSheets, parseValidity, participantsCsv, readCodesStore, readEnvelopesStore, sideFolder,
  tokensCsv, writeJson, type CodesStore, type PreparedStores, type Side,
} from './outputs.js';
import { renderStoredSheets, runWorker } from './render.js';
import { shuffleInPlace } from './random.js';

const DEFAULT_GUESSES = 1_000_000;
const DEFAULT_MAX_ODDS = 1e-6;
const DEFAULT_BATCH = 1000;

const USAGE = `usage: npm run invitations -- <command> [options]
  generate   codes, code cards, envelopes and the LimeSurvey participant file from an address list
  reprint    redraw sheets of codes.pdf or envelopes.pdf (paper jam), identical to the originals
  void       take spoiled codes out of use and print a replacement batch
Run \`npm run invitations -- <command> --help\` for each command's options.
exit status: 0 ok, 1 a step failed, 2 bad input`;

const GENERATE_USAGE = `usage: npm run invitations -- generate --addresses FILE.csv --codes N --out DIR
         (--survey-url https://... | --config CITY.yaml) [options]
  --addresses FILE    address list, CSV with a header row; columns ${ADDRESS_FIELDS.join(',')}
                      (address2 may be empty or absent); UTF-8 or Windows-1252; , ; or tab separated
  --map FIELD=HEADER  read a field from another column, e.g. --map name=Nom,postcode=CP (repeatable)
  --drop-duplicates   keep the first of identical rows (default: duplicates are an error)
  --codes N           codes to print, at least one per address; a few % more covers jams and spoils
  --batch SIZE        codes or envelopes per batch, each batch starting on a new sheet (default ${DEFAULT_BATCH})
  --out DIR           where to write; must not exist or be empty
  --survey-url URL    https address of the survey, printed on every card
  --config FILE       city file: the survey URL defaults to https://<services.limesurvey.hostname>/
                      and the card title names the commune
  --onion ADDRESS     the survey's onion address (56 characters + .onion), printed on every card
  --title TEXT        first line of every card (default "Consultation citoyenne")
  --layout NAME       envelopes: ${Object.entries(ENVELOPE_LAYOUTS).map(([k, v]) => `${k} (${v.description})`).join(';\n                      ')} (default c5-window)
  --sender TEXT       return address printed above the window address (c5-window)
  --valid-from DATE   first day the codes work, YYYY-MM-DD or "YYYY-MM-DD HH:MM"
  --valid-until DATE  last day the codes work (until 23:59 when no time is given)
  --guesses N         attempts an attacker could make while the survey is open (default ${DEFAULT_GUESSES.toLocaleString('en-US')})
  --max-odds P        highest acceptable chance that those attempts hit a valid code (default ${DEFAULT_MAX_ODDS});
                      the code length is the shortest that meets it
  --quiet             no progress lines
  --timing            print the time of each step on stderr
  -h, --help          this help
Writes DIR/codes/ (codes.pdf, for the code station), DIR/envelopes/ (envelopes.pdf, for the
envelope station), DIR/${PARTICIPANTS_CSV} and DIR/${MANIFEST} (for the LimeSurvey administrator).
exit status: 0 ok, 1 a step failed, 2 bad input (flags, address list)`;

const REPRINT_USAGE = `usage: npm run invitations -- reprint codes|envelopes --from DIR --batch B [--sheet S] [--to FILE.pdf]
  codes|envelopes  which side; it reads only that side's folder
  --from DIR       the directory generate wrote, or just its codes/ or envelopes/ folder
  --batch B        batch number, as printed in the sheet's margin
  --sheet S        one sheet of the batch (default: the whole batch)
  --to FILE        output PDF (default: <side folder>/reprints/<side>-batch-B[-sheet-S].pdf)
  -h, --help       this help
The pages are identical to the originals: same layout, same content, byte for byte.
exit status: 0 ok, 1 a step failed, 2 bad input`;

const VOID_USAGE = `usage: npm run invitations -- void --from DIR --codes FILE|LIST [--quiet]
  --from DIR      the directory generate wrote, or just its codes/ folder
  --codes X       spoiled codes: a file with one code per line, or a comma-separated list;
                  with or without dashes, any case
  --quiet         no progress lines
  -h, --help      this help
Writes <codes folder>/void-N/: the tokens to delete in LimeSurvey, a replacement batch
(codes.pdf) and its LimeSurvey participant file. Voided cards print as void on any later reprint.
exit status: 0 ok, 1 a step failed, 2 bad input (unknown or mistyped code)`;

const SUBCOMMANDS: Record<string, { usage: string; run: (args: string[], hooks: InvitationsHooks) => Promise<void> }> = {
  generate: { usage: GENERATE_USAGE, run: generate },
  reprint: { usage: REPRINT_USAGE, run: reprint },
  void: { usage: VOID_USAGE, run: voidCodes },
};

// ---------------------------------------------------------------------------------------------
// Shared helpers

function parse<T>(args: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options'], allowPositionals = false): { values: T; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals });
    return { values: values as T, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function positiveInteger(flag: string, value: string | undefined, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`${flag} is required`);
    return fallback;
  }
  const n = Number(value.replace(/[_ ]/g, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`${flag}: expected a whole number of at least 1, got "${value}"`);
  return n;
}

/** Progress on stderr, one line rewritten in place: only on a terminal, never with --quiet. */
function progressLine(quiet: boolean | undefined): { update: (text: string) => void; done: () => void } {
  const on = !quiet && process.stderr.isTTY;
  let shown = false;
  return {
    update: (text) => {
      if (!on) return;
      process.stderr.write(`\r\x1b[2K${text}`);
      shown = true;
    },
    done: () => {
      if (shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

const count = (n: number) => n.toLocaleString('en-US');
/** Relative to the working directory when below it, absolute otherwise. */
const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const odds = (p: number) => (p >= 0.5 ? `${p.toPrecision(2)} (near certain)` : `${p.toExponential(1)} (1 in ${count(Math.round(1 / p))})`);

// ---------------------------------------------------------------------------------------------
// generate

interface GenerateArgs {
  addresses?: string; map?: string[]; 'drop-duplicates'?: boolean; codes?: string; batch?: string; out?: string;
  'survey-url'?: string; config?: string; onion?: string; title?: string; layout?: string; sender?: string;
  'valid-from'?: string; 'valid-until'?: string; guesses?: string; 'max-odds'?: string; quiet?: boolean; timing?: boolean; help?: boolean;
}

function surveyUrlOf(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`--survey-url: "${value}" is not a URL; e.g. --survey-url https://enquetes.ville-exemple.fr/index.php/123456`);
  }
  if (url.protocol !== 'https:') throw new InputError(`--survey-url must use https (citizens type it from paper; their browser must not start in clear text), got ${url.protocol}`);
  return url.href;
}

function onionOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/$/, '');
  if (!/^[a-z2-7]{56}\.onion$/.test(v)) throw new InputError(`--onion: expected a v3 onion address (56 letters a-z and digits 2-7, then .onion), got "${value}"`);
  return v;
}

async function generate(argv: string[], hooks: InvitationsHooks): Promise<void> {
  const { values: a } = parse<GenerateArgs>(argv, {
    addresses: { type: 'string' }, map: { type: 'string', multiple: true }, 'drop-duplicates': { type: 'boolean' },
    codes: { type: 'string' }, batch: { type: 'string' }, out: { type: 'string' }, 'survey-url': { type: 'string' },
    config: { type: 'string' }, onion: { type: 'string' }, title: { type: 'string' }, layout: { type: 'string' },
    sender: { type: 'string' }, 'valid-from': { type: 'string' }, 'valid-until': { type: 'string' },
    guesses: { type: 'string' }, 'max-odds': { type: 'string' }, quiet: { type: 'boolean' }, timing: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (a.help) return console.log(GENERATE_USAGE);
  const started = performance.now();
  const timing = (step: string, since: number) => {
    if (a.timing) console.error(`${step}: ${((performance.now() - since) / 1000).toFixed(1)} s`);
  };
  if (!a.addresses) throw new UsageError('--addresses FILE.csv is required');
  if (!a.out) throw new UsageError('--out DIR is required');
  if (a.codes === undefined) throw new UsageError('--codes N is required (at least one per address)');
  if (Number(a.codes) === 0) throw new InputError('--codes 0: there would be nothing to print; give at least one code per address, plus a few % for spoiled cards');
  const codeCount = positiveInteger('--codes', a.codes);
  const batchSize = positiveInteger('--batch', a.batch, DEFAULT_BATCH);
  const guesses = positiveInteger('--guesses', a.guesses, DEFAULT_GUESSES);
  const maxOdds = a['max-odds'] === undefined ? DEFAULT_MAX_ODDS : Number(a['max-odds']);
  if (!(maxOdds > 0 && maxOdds < 1)) throw new InputError(`--max-odds: expected a probability between 0 and 1 such as 1e-6, got "${a['max-odds']}"`);
  const layout = (a.layout ?? 'c5-window') as EnvelopeLayout;
  if (!(layout in ENVELOPE_LAYOUTS)) throw new InputError(`--layout: unknown layout "${a.layout}"; layouts are ${Object.keys(ENVELOPE_LAYOUTS).join(', ')}`);
  const validFrom = parseValidity('--valid-from', a['valid-from'], false);
  const validUntil = parseValidity('--valid-until', a['valid-until'], true);
  if (validFrom && validUntil && validUntil <= validFrom) throw new InputError(`--valid-until (${validUntil}) must come after --valid-from (${validFrom})`);
  if (a.config && !hooks.cityDefaults) throw new UsageError('--config is Socle\'s: run npm run invitations in a Socle checkout, or give --survey-url and --title');
  const city = a.config ? hooks.cityDefaults!(a.config) : undefined;
  if (!a['survey-url'] && !city) throw new UsageError('--survey-url URL (or --config CITY.yaml) is required: the cards must say where to answer');
  const surveyUrl = surveyUrlOf(a['survey-url'] ?? city!.surveyUrl);
  const onion = onionOf(a.onion);
  const title = a.title ?? city?.title ?? 'Consultation citoyenne';
  const map = parseFieldMap(a.map ?? []);
  let length: CodeLength;
  try {
    length = codeLength({ count: codeCount, guesses, maxOdds });
  } catch (err) {
    throw new InputError(`--codes ${codeCount}, --guesses ${guesses}, --max-odds ${maxOdds}: ${(err as Error).message}`);
  }
  const out = resolve(a.out);
  if (existsSync(out) && readdirSync(out).length > 0) throw new InputError(`--out ${a.out}: the directory is not empty; a new generation goes into a new directory (never mix two sets of codes)`);

  const progress = progressLine(a.quiet);
  const codesDir = join(out, CODES_DIR);
  const envelopesDir = join(out, ENVELOPES_DIR);
  const preparing = performance.now();
  progress.update('reading addresses, drawing codes...');
  const prepared = await runWorker({
    task: 'prepare',
    input: {
      addressFile: a.addresses, map, dropDuplicates: a['drop-duplicates'], codeCount, length, batchSize, layout, out, codesDir, envelopesDir,
      card: { title, surveyUrl, ...(onion ? { onion } : {}) }, envelope: { layout, ...(a.sender ? { sender: a.sender } : {}) }, validity: { validFrom, validUntil },
    },
  }) as PreparedStores;
  timing('prepare (read, draw codes, shuffle, write stores)', preparing);
  const { addresses: list, codeBatches, envelopeBatches } = prepared;
  const addressCount = list.count;

  const state = { codes: 0, envelopes: 0 };
  const show = () => progress.update(`drawing: ${CODES_PDF} batch ${state.codes}/${codeBatches.length}, ${ENVELOPES_PDF} batch ${state.envelopes}/${envelopeBatches.length}`);
  show();
  const rendering = performance.now();
  await Promise.all([
    runWorker({ task: 'render', side: 'codes', folder: codesDir, file: join(codesDir, CODES_PDF) }, (s: SheetPosition) => { state.codes = s.batch; show(); })
      .then(() => timing(CODES_PDF, rendering)),
    runWorker({ task: 'render', side: 'envelopes', folder: envelopesDir, file: join(envelopesDir, ENVELOPES_PDF) }, (s: SheetPosition) => { state.envelopes = s.batch; show(); })
      .then(() => timing(ENVELOPES_PDF, rendering)),
  ]);
  progress.update('hashing...');
  const hashing = performance.now();
  const files = await fileHashes(out);
  progress.done();
  timing('hashes', hashing);

  const manifest = {
    format: 'socle-invitations-manifest/1',
    generatedAt: new Date().toISOString(),
    addresses: { file: basename(a.addresses), ...list },
    codes: {
      count: codeCount, spare: codeCount - addressCount, alphabet: ALPHABET, length: length.length, randomCharacters: length.randomChars,
      checkCharacter: 'weighted sum modulo 29, weights length..1', guesses, maxOdds, odds: length.odds, eightDigitOdds: length.eightDigitOdds,
    },
    validity: { validFrom, validUntil },
    layout: {
      codes: { file: `${CODES_DIR}/${CODES_PDF}`, batchSize, cardsPerSheet: CARD.perSheet, sheets: prepared.codeSheets, batches: codeBatches },
      envelopes: { file: `${ENVELOPES_DIR}/${ENVELOPES_PDF}`, layout, batchSize, envelopesPerSheet: ENVELOPE_LAYOUTS[layout].perSheet, sheets: prepared.envelopeSheets, batches: envelopeBatches },
    },
    files,
  };
  writeJson(join(out, MANIFEST), manifest);
  timing('generate', started);

  const rel = (f: string) => shown(join(out, f));
  console.log(`addresses: ${count(addressCount)} from ${basename(a.addresses)} (${list.encoding}${list.droppedDuplicates ? `, ${count(list.droppedDuplicates)} duplicate(s) dropped` : ''})`);
  console.log(`codes: ${count(codeCount)} (${count(codeCount - addressCount)} spare), ${length.length} characters (${length.randomChars} random + 1 check) from ${ALPHABET.length} characters, printed as ${formatCode('X'.repeat(length.length))}`);
  console.log(`odds: an attacker trying ${count(guesses)} codes hits a valid one with probability ${odds(length.odds)} (target ${maxOdds.toExponential(0)})`);
  console.log(`      with 8-digit codes the same attempts would hit with probability ${odds(length.eightDigitOdds)}`);
  console.log(`${rel(`${CODES_DIR}/${CODES_PDF}`)}: ${codeBatches.length} batch(es) of up to ${count(batchSize)} codes, ${count(prepared.codeSheets)} sheets of ${CARD.perSheet} cards`);
  console.log(`${rel(`${ENVELOPES_DIR}/${ENVELOPES_PDF}`)}: ${envelopeBatches.length} batch(es) of up to ${count(batchSize)} envelopes, ${count(prepared.envelopeSheets)} sheets (${layout})`);
  console.log('files (SHA-256, also in manifest.json):');
  for (const [f, { bytes, sha256 }] of Object.entries(files)) console.log(`  ${sha256}  ${mb(bytes).padStart(9)}  ${f}`);
  console.log(`hand ${rel(CODES_DIR)}/ to the code station and ${rel(ENVELOPES_DIR)}/ to the envelope station, never both to one person;`);
  console.log(`${rel(PARTICIPANTS_CSV)} goes to the LimeSurvey administrator only.`);
}

// ---------------------------------------------------------------------------------------------
// reprint

async function reprint(argv: string[]): Promise<void> {
  const { values: a, positionals } = parse<{ from?: string; batch?: string; sheet?: string; to?: string; help?: boolean }>(argv, {
    from: { type: 'string' }, batch: { type: 'string' }, sheet: { type: 'string' }, to: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, true);
  if (a.help) return console.log(REPRINT_USAGE);
  const side = positionals[0] as Side;
  if (positionals.length !== 1 || (side !== 'codes' && side !== 'envelopes')) throw new UsageError('say which side to reprint: reprint codes ... or reprint envelopes ...');
  if (!a.from) throw new UsageError('--from DIR is required');
  const batch = positiveInteger('--batch', a.batch);
  const sheet = a.sheet === undefined ? undefined : positiveInteger('--sheet', a.sheet);
  const folder = sideFolder(a.from, side);
  const sheets = side === 'codes' ? readCodesStore(folder).sheets : readEnvelopesStore(folder).sheets;
  const inBatch = sheets.filter((s) => s.batch === batch);
  const batches = batchLayout(sheets);
  if (inBatch.length === 0) throw new InputError(`--batch ${batch}: ${side} has batches 1 to ${batches.at(-1)?.batch ?? 0}`);
  if (sheet !== undefined && sheet > inBatch.length) throw new InputError(`--sheet ${sheet}: batch ${batch} of ${side} has sheets 1 to ${inBatch.length}`);
  const to = a.to ?? join(folder, 'reprints', `${side}-batch-${batch}${sheet === undefined ? '' : `-sheet-${sheet}`}.pdf`);
  mkdirSync(resolve(to, '..'), { recursive: true });
  const drawn = await renderStoredSheets(side, folder, to, { batch, sheet });
  console.log(`${side}: batch ${batch}${sheet === undefined ? '' : `, sheet ${sheet}`} (${drawn} sheet(s)) -> ${shown(resolve(to))}`);
}

// ---------------------------------------------------------------------------------------------
// void

/** Codes from a file (one per line) or a comma-separated list, each with where it came from. */
function readCodeList(value: string): { code: string; where: string }[] {
  if (existsSync(value)) {
    return readFileSync(value, 'utf8').split(/\r?\n/).map((l, i) => ({ code: canonicalCode(l), where: `${basename(value)}:${i + 1}` })).filter((c) => c.code !== '');
  }
  return value.split(',').map((c, i) => ({ code: canonicalCode(c), where: `--codes entry ${i + 1}` })).filter((c) => c.code !== '');
}

async function voidCodes(argv: string[]): Promise<void> {
  const { values: a } = parse<{ from?: string; codes?: string; quiet?: boolean; help?: boolean }>(argv, {
    from: { type: 'string' }, codes: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (a.help) return console.log(VOID_USAGE);
  if (!a.from) throw new UsageError('--from DIR is required');
  if (!a.codes) throw new UsageError('--codes FILE|LIST is required');
  const folder = sideFolder(a.from, 'codes');
  const store = readCodesStore(folder);
  const issued = new Set(store.sheets.flatMap((s) => s.codes.filter((c): c is string => c !== null)));
  const alreadyVoid = new Set(store.voided);
  const entries = readCodeList(a.codes);
  if (entries.length === 0) throw new InputError(`--codes ${a.codes}: no code in it`);
  // Messages never repeat a code: logs and terminals are not places for valid codes.
  const problems = entries.flatMap(({ code, where }) => {
    if (!isValidCode(code, store.codeLength)) return [`${where}: not a valid code (mistyped? the check character does not match) — copy it again from the card`];
    if (!issued.has(code)) return [`${where}: a valid code, but not one of this generation (${shown(folder)})`];
    if (alreadyVoid.has(code)) return [`${where}: already voided`];
    return [];
  });
  if (problems.length) throw new InputError(problems.join('\n'));
  const spoiled = [...new Set(entries.map((e) => e.code))];

  const progress = progressLine(a.quiet);
  progress.update('drawing replacement codes...');
  const replacements = shuffleInPlace(generateCodes(spoiled.length, store.codeLength - 1, issued));
  const nextBatch = Math.max(...store.sheets.map((s) => s.batch)) + 1;
  const newSheets = intoSheets(replacements, store.batchSize, CARD.perSheet, nextBatch).map(({ items, ...p }) => ({ ...p, codes: items }));
  const updated: CodesStore = { ...store, sheets: [...store.sheets, ...newSheets], voided: [...store.voided, ...spoiled] };
  const voidNumber = readdirSync(folder).filter((f) => /^void-\d+$/.test(f)).length + 1;
  const voidDir = join(folder, `void-${voidNumber}`);
  mkdirSync(voidDir);
  // Written through a temporary file: an interrupted run must not leave a half-written store.
  writeJson(join(folder, `${CODES_STORE}.tmp`), updated);
  renameSync(join(folder, `${CODES_STORE}.tmp`), join(folder, CODES_STORE));
  writeFileSync(join(voidDir, 'limesurvey-delete-tokens.csv'), tokensCsv(spoiled));
  writeFileSync(join(voidDir, PARTICIPANTS_CSV), participantsCsv(replacements, store.validity));
  progress.update(`drawing replacement batch ${nextBatch}...`);
  await renderStoredSheets('codes', folder, join(voidDir, CODES_PDF), { batch: nextBatch });
  progress.done();
  const rel = (f: string) => shown(join(voidDir, f));
  console.log(`voided ${spoiled.length} code(s); replacement batch ${nextBatch}: ${replacements.length} code(s) on ${newSheets.length} sheet(s) -> ${rel(CODES_PDF)}`);
  console.log(`in LimeSurvey, delete the tokens listed in ${rel('limesurvey-delete-tokens.csv')}, then import ${rel(PARTICIPANTS_CSV)}`);
}

// ---------------------------------------------------------------------------------------------

/** What a host application adds: Socle reads the survey URL and title from a city file. */
export interface InvitationsHooks {
  /** Defaults taken from `--config FILE`; throws the loader's own errors. @default --config refused */
  readonly cityDefaults?: (file: string) => { readonly surveyUrl: string; readonly title: string };
}

/** Runs `invitations <command> ...` with the exit statuses of every Socle command. */
export function runInvitations(argv: readonly string[], hooks: InvitationsHooks = {}): Promise<void> {
  const [name, ...rest] = [...argv];
  const sub = name === undefined ? undefined : SUBCOMMANDS[name];
  return runCommand(async () => {
    if (name === undefined || name === '-h' || name === '--help') return console.log(USAGE);
    if (!sub) throw new UsageError(`unknown command "${name}"; commands are ${Object.keys(SUBCOMMANDS).join(', ')}`);
    await sub.run(rest, hooks);
  }, sub?.usage ?? USAGE);
}
