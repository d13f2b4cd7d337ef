#!/usr/bin/env -S node --import tsx
// scripts/survey.ts: the LimeSurvey side of a consultation with printed codes, through
// RemoteControl: check a survey's privacy settings, load the invitation pipeline's codes, activate
// the survey once it is safe, and export the anonymous answers.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InputError, StepError, UsageError, runCommand } from '../core/cli.js';
import { canonicalCode, isValidCode } from '../invitations/codes.js';
import { participantsCsv } from '../invitations/outputs.js';
import { loadCity } from '../stacks/config/load.js';
import { REMOTE_CONTROL_PATH } from '../services/limesurvey/index.js';
import { runOnHost } from './lib/run.js';
import { LimeSurvey, type CompletionStatus, type NewParticipant, type SurveyProperties } from '../services/limesurvey/remote-control.js';

const PASSWORD_ENV = 'SOCLE_LIMESURVEY_ADMIN_PASSWORD';
const ENDPOINT_PATH = REMOTE_CONTROL_PATH;
const DEFAULT_BATCH = 1000;
/** Codes per transaction when they go straight into the participant table (--config). */
const BULK_BATCH = 10_000;

const CONNECTION_OPTIONS = `connection (one of --url or --config):
  --url URL                RemoteControl endpoint, e.g. https://enquetes.ville.fr${ENDPOINT_PATH}
  --config FILE            the city file: over SSH to the LimeSurvey host, as the deploy goes (the
                           proxy refuses RemoteControl from outside)
  --user NAME              LimeSurvey user (default: admin); password from ${PASSWORD_ENV}
  --survey ID              the survey's number (in its address)`;

const USAGE = `usage: npm run survey -- COMMAND (--url URL | --config FILE) --survey ID [options]
commands:
  check [--fix]            the survey's privacy settings, one line each, ok or FAIL with the fix;
                           --fix sets the failing ones LimeSurvey still lets change and reads
                           them back; check --active [--json]: every survey open to answers
  import-codes --participants FILE [--batch-size N]
                           load the codes of npm run invitations (limesurvey-participants.csv),
                           N at a time (default ${DEFAULT_BATCH}); codes already there are skipped
  activate                 activate the survey, only if check passes (nothing changed otherwise)
  results --out FILE [--completion complete|incomplete|all]
                           export the answers as CSV (default: complete ones), only from an
                           anonymous survey
${CONNECTION_OPTIONS}
  -h, --help               this help (npm run survey -- COMMAND --help: that command's)
exit status: 0 ok, 1 a check failed or LimeSurvey refused a step, 2 bad input`;

const COMMAND_USAGE = {
  check: `usage: npm run survey -- check (--url URL | --config FILE) (--survey ID [--fix] | --active [--json])
Checks what LimeSurvey stores with each answer and who may answer: anonymized=Y, ipaddr=N,
ipanonymize=Y (where LimeSurvey has it), refurl=N, savetimings=N, datestamp=N, allowsave=N,
listpublic=N, allowregister=N, an end date (the answers are deleted some days after it), a
participant table (access by code only), and no name or e-mail address among the participants. Prints one line per setting: ok, or FAIL with the fix.
  --fix                    set the failing settings LimeSurvey still lets change (before
                           activation), then read them back: LimeSurvey drops silently what it
                           does not take
  --active                 every survey open to answers instead of one (npm run audit --surveys)
  --json                   with --active: the surveys and their findings as JSON on standard output
${CONNECTION_OPTIONS}
exit status: 0 every setting ok, 1 a setting fails, 2 bad input`,
  'import-codes': `usage: npm run survey -- import-codes (--url URL | --config FILE) --survey ID --participants FILE [--batch-size N]
Loads the participant file npm run invitations wrote (limesurvey-participants.csv: codes only, no
names) into the survey, creating its participant table if it has none. Safe to run again: codes
already in the survey are skipped. The whole file is checked before anything is sent.
  --participants FILE      the participant file
  --batch-size N           codes per RemoteControl call (default ${DEFAULT_BATCH}); with --config and
                           Socle's image the codes go straight into the participant table, at
                           least ${BULK_BATCH.toLocaleString('en')} per transaction
${CONNECTION_OPTIONS}
exit status: 0 ok, 1 LimeSurvey refused a step, 2 bad input (a malformed file: file:line and the fix)`,
  activate: `usage: npm run survey -- activate (--url URL | --config FILE) --survey ID
Runs check; when a setting fails, changes nothing and says what to fix. Otherwise creates the
participant table if needed and activates the survey. After activation LimeSurvey no longer lets
anonymized, ipaddr, refurl, savetimings or datestamp change.
${CONNECTION_OPTIONS}
exit status: 0 active, 1 check failed or LimeSurvey refused, 2 bad input`,
  results: `usage: npm run survey -- results (--url URL | --config FILE) --survey ID --out FILE [--completion WHICH]
Exports the answers as CSV with question codes as headings. Refuses unless the answers are
anonymous: anonymized=Y, ipaddr=N, refurl=N, savetimings=N, datestamp=N.
  --out FILE               where to write (never overwritten; created readable by you only)
  --completion WHICH       complete (default), incomplete or all
${CONNECTION_OPTIONS}
exit status: 0 written, 1 refused or LimeSurvey failed, 2 bad input`,
} as const;

const COMMANDS = ['check', 'import-codes', 'activate', 'results'] as const;
type Command = typeof COMMANDS[number];

interface Args {
  url?: string; config?: string; user?: string; survey?: string; fix?: boolean; participants?: string;
  'batch-size'?: string; out?: string; completion?: string; active?: boolean; json?: boolean; help?: boolean;
}

export interface Parsed {
  readonly command?: Command;
  readonly args: Args;
  readonly surveyId: number;
  readonly batchSize: number;
}

export function parse(argv: readonly string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' }, config: { type: 'string' }, user: { type: 'string' }, survey: { type: 'string' },
        fix: { type: 'boolean' }, participants: { type: 'string' }, 'batch-size': { type: 'string' }, out: { type: 'string' },
        completion: { type: 'string' }, active: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true, allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const args = parsed.values as Args;
  const [command, ...extra] = parsed.positionals;
  if (command !== undefined && !(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command "${command}"; commands: ${COMMANDS.join(', ')}`);
  if (args.help) return { command: command as Command | undefined, args, surveyId: 0, batchSize: DEFAULT_BATCH };
  if (!command) throw new UsageError('a command is required');
  if (extra.length) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);
  const only: Record<string, readonly Command[]> = {
    fix: ['check'], active: ['check'], json: ['check'], participants: ['import-codes'], 'batch-size': ['import-codes'], out: ['results'], completion: ['results'],
  };
  for (const [flag, commands] of Object.entries(only)) {
    if (args[flag as keyof Args] !== undefined && !commands.includes(command as Command)) throw new UsageError(`--${flag} applies to ${commands.join(' and ')} only`);
  }
  if (args.url && args.config) throw new UsageError('give --url or --config, not both');
  if (!args.url && !args.config) throw new UsageError(`--url URL or --config FILE is required (where LimeSurvey's RemoteControl is)`);
  if (args.url !== undefined && !/^https?:\/\/[^/\s]+/.test(args.url)) throw new UsageError(`--url must be an http(s) address, e.g. https://enquetes.ville.fr${ENDPOINT_PATH}; got "${args.url}"`);
  if (args.active && (args.survey !== undefined || args.fix)) throw new UsageError('check --active reads every active survey: give it without --survey and --fix');
  if (args.active) return { command: command as Command, args, surveyId: 0, batchSize: DEFAULT_BATCH };
  if (args.survey === undefined) throw new UsageError('--survey ID is required (the number in the survey\'s address), or check --active for every active survey');
  if (!/^[1-9][0-9]{0,9}$/.test(args.survey)) throw new UsageError(`--survey must be the survey's number, e.g. --survey 123456; got "${args.survey}"`);
  if (command === 'import-codes' && !args.participants) throw new UsageError('import-codes needs --participants FILE (limesurvey-participants.csv from npm run invitations)');
  if (command === 'results' && !args.out) throw new UsageError('results needs --out FILE');
  const batchSize = args['batch-size'] === undefined ? DEFAULT_BATCH : Number(args['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new UsageError(`--batch-size must be a whole number from 1 to 10000, got "${args['batch-size']}"`);
  if (args.completion !== undefined && !['complete', 'incomplete', 'all'].includes(args.completion)) throw new UsageError(`--completion must be complete, incomplete or all; got "${args.completion}"`);
  return { command: command as Command, args, surveyId: Number(args.survey), batchSize };
}

// ---------------------------------------------------------------------------------------------
// The privacy check: a pure evaluation of what LimeSurvey reported.

/** One line of check: a setting, what LimeSurvey has, and the fix when it is not what Socle needs. */
export interface Finding {
  readonly setting: string;
  readonly ok: boolean;
  readonly actual: string;
  readonly expected: string;
  /** What to do, for a failing setting. */
  readonly fix?: string;
  /** The property set_survey_properties can change to fix it, when it still can. */
  readonly set?: Readonly<Record<string, string>>;
}

interface PropertyRule {
  readonly name: string;
  readonly want: 'Y' | 'N';
  /** Where the administrator changes it in LimeSurvey 6. */
  readonly where: string;
  /** Why Socle needs it, for the FAIL line. */
  readonly why: string;
  /** LimeSurvey locks it once the survey is active (set_survey_properties drops it). */
  readonly lockedWhenActive?: boolean;
  /** Not every LimeSurvey 6 has it: checked only when reported. */
  readonly optional?: boolean;
}

/** What each answer may hold and who may answer. */
const PRIVACY_RULES: readonly PropertyRule[] = [
  { name: 'anonymized', want: 'Y', where: 'Settings → Participant settings → Anonymized responses', why: 'otherwise each answer is linked to its code', lockedWhenActive: true },
  { name: 'ipaddr', want: 'N', where: 'Settings → Notifications & data → Save IP address', why: 'the address identifies the household', lockedWhenActive: true },
  { name: 'ipanonymize', want: 'Y', where: 'Settings → Notifications & data → Anonymize IP address', why: 'a stored address would be the full address', optional: true },
  { name: 'refurl', want: 'N', where: 'Settings → Notifications & data → Save referrer URL', why: 'the referrer can carry the code or a tracking link', lockedWhenActive: true },
  { name: 'savetimings', want: 'N', where: 'Settings → Notifications & data → Save timings', why: 'timings help match an answer to a person', lockedWhenActive: true },
  { name: 'datestamp', want: 'N', where: 'Settings → Notifications & data → Date stamp', why: 'the time of an answer helps match it to a person', lockedWhenActive: true },
  { name: 'allowsave', want: 'N', where: 'Settings → Participant settings → Participant may save and resume later', why: 'saving asks for a name and an e-mail address', },
  { name: 'listpublic', want: 'N', where: 'Settings → Participant settings → List survey publicly', why: 'the survey is for code holders only' },
  { name: 'allowregister', want: 'N', where: 'Settings → Participant settings → Allow public registration', why: 'registration hands a code to anyone who asks, with their e-mail address' },
];

/** The settings whose failure puts personal data into the exported answers. */
export const ANSWER_SETTINGS: readonly string[] = ['anonymized', 'ipaddr', 'refurl', 'savetimings', 'datestamp'];

export interface ParticipantsReport {
  /** The survey has a participant table: only code holders can answer. */
  readonly table: boolean;
  readonly count: number;
  /** Participants with a first name, last name or e-mail address. */
  readonly identified: number;
}

export function evaluatePrivacy(properties: SurveyProperties, participants: ParticipantsReport): Finding[] {
  const active = properties.active === 'Y';
  const findings: Finding[] = [];
  for (const rule of PRIVACY_RULES) {
    const value = properties[rule.name];
    if (value === undefined) {
      if (rule.optional) continue;
      // get_survey_properties leaves out the names it does not know, without an error.
      findings.push({ setting: rule.name, ok: false, actual: '(not reported)', expected: rule.want, fix: `LimeSurvey did not report ${rule.name}: this is not the LimeSurvey 6 Socle knows; check ${rule.where} by hand` });
      continue;
    }
    const actual = value === null ? '(empty)' : String(value);
    if (actual === rule.want) {
      findings.push({ setting: rule.name, ok: true, actual, expected: rule.want });
    } else if (active && rule.lockedWhenActive) {
      findings.push({ setting: rule.name, ok: false, actual, expected: rule.want, fix: `${rule.why}; the survey is active and LimeSurvey no longer changes this: copy the survey, set ${rule.where} to ${rule.want === 'Y' ? 'on' : 'off'} in the copy, and import the codes there` });
    } else {
      findings.push({ setting: rule.name, ok: false, actual, expected: rule.want, fix: `${rule.why}: set ${rule.where} to ${rule.want === 'Y' ? 'on' : 'off'} (or run check --fix)`, set: { [rule.name]: rule.want } });
    }
  }
  // The answers' retention counts from the end date (socle-limesurvey purge-ended): without one
  // they would be kept for ever. The date is the city's choice, so --fix cannot set it.
  const expires = properties.expires;
  findings.push(expires
    ? { setting: 'end date', ok: true, actual: String(expires), expected: 'a date' }
    : { setting: 'end date', ok: false, actual: expires === undefined ? '(not reported)' : '(none)', expected: 'a date', fix: 'the answers are deleted services.limesurvey.answersKeptDays days after the survey\'s end, and a survey without one would keep them for ever: set Settings → Publication & access → Expiry date' });
  findings.push(participants.table
    ? { setting: 'participant table', ok: true, actual: `present, ${participants.count} code(s)`, expected: 'present' }
    : { setting: 'participant table', ok: false, actual: 'absent', expected: 'present', fix: 'without one anyone with the link can answer: npm run survey -- import-codes creates it (or Survey participants → Initialise participant table)' });
  if (participants.table) {
    findings.push(participants.identified === 0
      ? { setting: 'participant names and e-mail', ok: true, actual: 'none', expected: 'none' }
      : { setting: 'participant names and e-mail', ok: false, actual: `${participants.identified} participant(s) with a name or e-mail address`, expected: 'none', fix: 'the survey must never learn who holds a code: delete those participants (Survey participants → select → Delete) and load codes only, with npm run survey -- import-codes' });
  }
  return findings;
}

export function findingLine(f: Finding): string {
  return f.ok ? `ok    ${f.setting}: ${f.actual}` : `FAIL  ${f.setting}: ${f.actual}, want ${f.expected}: ${f.fix}`;
}

// ---------------------------------------------------------------------------------------------
// The participant file: exactly what invitations/outputs.ts participantsCsv writes.

/** The header participantsCsv writes, taken from it so that the two never drift apart. */
export const PARTICIPANTS_HEADER = participantsCsv([], {}).split('\n')[0];
const COLUMNS = PARTICIPANTS_HEADER.split(',');
const DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/;

/** The participants of a participant file, or an InputError naming file:line and the fix. */
export function parseParticipants(text: string, file: string): NewParticipant[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const at = (line: number, problem: string) => new InputError(`${file}:${line}: ${problem}`);
  if (lines.length === 0) throw at(1, `empty file: use the limesurvey-participants.csv that npm run invitations -- generate wrote`);
  if (lines[0] !== PARTICIPANTS_HEADER) {
    throw at(1, `not a Socle participant file: the first line must be\n  ${PARTICIPANTS_HEADER}\nuse the limesurvey-participants.csv that npm run invitations -- generate wrote (a spreadsheet that re-saved it may have changed the separators)`);
  }
  const seen = new Map<string, number>();
  const participants: NewParticipant[] = [];
  let length: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const n = i + 1;
    if (lines[i].trim() === '') throw at(n, 'empty line: remove it');
    if (lines[i].includes('"') || lines[i].includes(';')) throw at(n, 'quotes or semicolons: the file was re-saved by a spreadsheet; use the file npm run invitations wrote');
    const fields = lines[i].split(',');
    if (fields.length !== COLUMNS.length) throw at(n, `${fields.length} fields, want ${COLUMNS.length} (${PARTICIPANTS_HEADER})`);
    const row = Object.fromEntries(COLUMNS.map((c, j) => [c, fields[j].trim()])) as Record<string, string>;
    for (const c of ['firstname', 'lastname', 'email']) {
      if (row[c] !== '') throw at(n, `${c} is filled in: the survey must never learn who holds a code; leave firstname, lastname and email empty`);
    }
    const token = row.token;
    if (token === '') throw at(n, 'no code in the token column');
    if (token !== canonicalCode(token) || !isValidCode(token)) {
      throw at(n, `"${token}" is not a Socle invitation code (upper case, no dashes, check character valid): a code was mistyped or the file was edited; regenerate it with npm run invitations`);
    }
    if (length !== undefined && token.length !== length) throw at(n, `a code of ${token.length} characters among codes of ${length}: two generations mixed in one file; import each file separately`);
    length = token.length;
    const first = seen.get(token);
    if (first !== undefined) throw at(n, `code already on line ${first}: each code is for one household; remove the duplicate`);
    seen.set(token, n);
    for (const c of ['validfrom', 'validuntil']) {
      if (row[c] !== '' && !DATE_TIME.test(row[c])) throw at(n, `${c} "${row[c]}" is not YYYY-MM-DD HH:MM`);
    }
    for (const c of ['invited', 'reminded']) {
      if (row[c] !== 'N' && row[c] !== 'Y' && row[c] !== '') throw at(n, `${c} "${row[c]}" must be Y or N`);
    }
    if (row.completed !== 'N' && row.completed !== '') throw at(n, `completed is "${row.completed}": a code to import has not been used; write N`);
    if (row.remindercount !== '' && !/^\d+$/.test(row.remindercount)) throw at(n, `remindercount "${row.remindercount}" is not a whole number`);
    if (row.usesleft !== '' && !/^[1-9]\d*$/.test(row.usesleft)) throw at(n, `usesleft "${row.usesleft}" must be a whole number of at least 1 (1: one answer per code)`);
    participants.push({
      token,
      ...(row.language ? { language: row.language } : {}),
      ...(row.validfrom ? { validfrom: row.validfrom } : {}),
      ...(row.validuntil ? { validuntil: row.validuntil } : {}),
      // LimeSurvey's own CSV import renames invited and reminded to its columns sent and remindersent.
      sent: (row.invited || 'N') as 'Y' | 'N',
      remindersent: (row.reminded || 'N') as 'Y' | 'N',
      remindercount: Number(row.remindercount || 0),
      completed: 'N',
      usesleft: Number(row.usesleft || 1),
    });
  }
  if (participants.length === 0) throw at(2, 'no codes after the header: generate them with npm run invitations -- generate');
  return participants;
}

// ---------------------------------------------------------------------------------------------
// The commands.

const say = (line: string) => console.error(line);

/**
 * With --config: the proxy refuses RemoteControl from outside, so each call goes over SSH to the
 * LimeSurvey host, the way the deploy reaches it, and into the app container (docker exec curl on
 * its own loopback). The answer comes back as an HTTP response.
 */
function overSsh(city: ReturnType<typeof loadCity>): { url: string; fetchImpl: typeof fetch; bulk?: BulkImport } {
  const host = city.hosts.find((h) => h.name === city.services.limesurvey.host)!;
  const container = `${city.commune.slug}-limesurvey-app`;
  const url = `ssh://${host.ssh.user}@${host.ssh.address}:${host.ssh.port} → ${container}${ENDPOINT_PATH}`;
  const fetchImpl = (async (_input: unknown, init?: RequestInit) => {
    const curl = ['docker', 'exec', '-i', container, 'curl', '--silent', '--show-error', '--write-out', '\n%{http_code}', '-X', 'POST',
      // The public name as Host: LimeSurvey's mailer names the Message-ID of what this call sends
      // (invitations, reminders) after it, in the city's domain, not after 127.0.0.1.
      '-H', 'Content-Type: application/json', '-H', `Host: ${city.services.limesurvey.hostname}`, '--data-binary', '@-', `http://127.0.0.1:8080${ENDPOINT_PATH}`];
    const r = await runOnHost(host.ssh, curl, String(init?.body ?? ''));
    if (r.code !== 0) throw new Error(`ssh to ${host.name} (${host.ssh.user}@${host.ssh.address}:${host.ssh.port}) and docker exec ${container} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
    const cut = r.stdout.lastIndexOf('\n');
    return new Response(r.stdout.slice(0, cut), { status: Number(r.stdout.slice(cut + 1)) || 502 });
  }) as typeof fetch;
  // Socle's image adds codes itself (socle-limesurvey import-codes), as fast as the database allows.
  const bulk: BulkImport = async (surveyId, batch) => {
    const r = await runOnHost(host.ssh, ['docker', 'exec', '-i', container, 'socle-limesurvey', 'import-codes', String(surveyId)], JSON.stringify(batch));
    if (r.code !== 0) throw new StepError(`import-codes on ${host.name} (docker exec ${container} socle-limesurvey import-codes) failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}; codes already loaded are skipped when you run it again`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { added: number; present: number };
  };
  return { url, fetchImpl, bulk: city.services.limesurvey.image ? undefined : bulk };
}

async function connect(args: Args): Promise<{ ls: LimeSurvey; bulk?: BulkImport }> {
  const password = process.env[PASSWORD_ENV];
  if (!password) throw new InputError(`${PASSWORD_ENV} is not set: export it with the password of LimeSurvey user "${args.user ?? 'admin'}" (read it from your password manager, not from a file in the repository)`);
  const connection = { user: args.user ?? 'admin', password, passwordSource: PASSWORD_ENV };
  if (args.url) return { ls: await LimeSurvey.open({ ...connection, url: args.url }) };
  const { url, fetchImpl, bulk } = overSsh(loadCity(args.config!));
  return { ls: await LimeSurvey.open({ ...connection, url }, fetchImpl), bulk };
}

const PROPERTY_NAMES = ['active', 'expires', ...PRIVACY_RULES.map((r) => r.name)];

async function participantsReport(ls: LimeSurvey, surveyId: number): Promise<ParticipantsReport> {
  if (!(await ls.hasParticipantTable(surveyId))) return { table: false, count: 0, identified: 0 };
  let count = 0;
  let identified = 0;
  for (let start = 0; ;) {
    const page = await ls.listParticipants(surveyId, { start, limit: 5000 });
    if (page.length === 0) break;
    count += page.length;
    identified += page.filter((p) => p.participant_info.firstname || p.participant_info.lastname || p.participant_info.email).length;
    start = Math.max(...page.map((p) => Number(p.tid))) + 1;
    if (page.length === 5000) say(`check: read ${count} participants…`);
  }
  return { table: true, count, identified };
}

async function readFindings(ls: LimeSurvey, surveyId: number): Promise<{ properties: SurveyProperties; findings: Finding[] }> {
  const properties = await ls.getSurveyProperties(surveyId, PROPERTY_NAMES);
  return { properties, findings: evaluatePrivacy(properties, await participantsReport(ls, surveyId)) };
}

function failed(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => !f.ok);
}

/** One survey as check --active --json reports it (the audit's AUD-LIVE-SURVEYS reads it). */
export interface SurveyReport {
  readonly sid: number;
  readonly title: string;
  readonly findings: readonly Finding[];
}

/** check --active: every survey open to answers, each with its findings; exit 1 when one fails. */
async function checkActive(ls: LimeSurvey, json: boolean): Promise<void> {
  const reports: SurveyReport[] = [];
  for (const s of await ls.listSurveys()) {
    if (s.active !== 'Y') continue;
    const sid = Number(s.sid);
    reports.push({ sid, title: s.surveyls_title, findings: (await readFindings(ls, sid)).findings });
  }
  if (json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  else for (const r of reports) for (const f of r.findings) console.log(`${r.sid} ${findingLine(f)}`);
  const failing = reports.filter((r) => failed(r.findings).length);
  if (failing.length) throw new StepError(`${failing.length} of ${reports.length} active survey(s) FAIL: ${failing.map((r) => `${r.sid} (${failed(r.findings).map((f) => f.setting).join(', ')})`).join('; ')}; run npm run survey -- check --survey ID for the fix of each`);
  say(`check --active: ${reports.length} active survey(s), every privacy setting ok`);
}

async function check(ls: LimeSurvey, surveyId: number, fix: boolean): Promise<void> {
  let { findings } = await readFindings(ls, surveyId);
  const settable = failed(findings).filter((f) => f.set);
  if (fix && settable.length) {
    const values = Object.assign({}, ...settable.map((f) => f.set));
    await ls.setSurveyProperties(surveyId, values);
    // Read back: set_survey_properties drops silently what it does not take.
    ({ findings } = await readFindings(ls, surveyId));
    const stillWrong = settable.filter((f) => failed(findings).some((g) => g.setting === f.setting));
    say(`check --fix: set ${settable.map((f) => `${f.setting}=${f.set![f.setting]}`).join(', ')}; ${stillWrong.length ? `LimeSurvey did not take ${stillWrong.map((f) => f.setting).join(', ')}` : 'read back: all taken'}`);
  }
  for (const f of findings) console.log(findingLine(f));
  const failing = failed(findings);
  if (failing.length) {
    const hint = !fix && failing.some((f) => f.set) ? ' (check --fix sets those LimeSurvey still lets change)' : '';
    throw new StepError(`survey ${surveyId}: ${failing.length} setting(s) FAIL: ${failing.map((f) => f.setting).join(', ')}; fix them as said above${hint}, then check again`);
  }
  console.log(`survey ${surveyId}: every privacy setting is ok`);
}

async function activate(ls: LimeSurvey, surveyId: number): Promise<void> {
  const { properties, findings } = await readFindings(ls, surveyId);
  // activate creates a missing participant table itself: only the other failures block it.
  const blocking = failed(findings).filter((f) => f.setting !== 'participant table');
  for (const f of findings) console.log(findingLine(f));
  if (blocking.length) throw new StepError(`survey ${surveyId} not activated, nothing changed: ${blocking.map((f) => f.setting).join(', ')} FAIL; fix them as said above (npm run survey -- check --fix sets what it can), then run activate again`);
  if (properties.active === 'Y') {
    console.log(`survey ${surveyId} is already active: nothing to do`);
    return;
  }
  if (findings.some((f) => f.setting === 'participant table' && !f.ok)) {
    await ls.activateTokens(surveyId);
    say(`activate: created the participant table: only code holders can answer (load the codes with import-codes)`);
  }
  await ls.activateSurvey(surveyId);
  const after = await ls.getSurveyProperties(surveyId, ['active']);
  if (after.active !== 'Y') throw new StepError(`activate_survey: LimeSurvey answered but survey ${surveyId} is still inactive (active=${String(after.active)}): activate it in LimeSurvey and read its message`);
  console.log(`survey ${surveyId} is active; LimeSurvey no longer lets its anonymity settings change`);
}

/** Adds a batch of codes straight into the participant table, codes already there skipped. */
type BulkImport = (surveyId: number, batch: readonly NewParticipant[]) => Promise<{ added: number; present: number }>;

async function importCodes(ls: LimeSurvey, surveyId: number, participants: readonly NewParticipant[], batchSize: number, bulk?: BulkImport): Promise<void> {
  if (!(await ls.hasParticipantTable(surveyId))) {
    await ls.activateTokens(surveyId);
    say(`import-codes: created the participant table of survey ${surveyId}: from now on only code holders can answer`);
  }
  let added = 0;
  let present = 0;
  // RemoteControl saves one code at a time; on the LimeSurvey host, a batch is one transaction.
  const size = bulk ? Math.max(batchSize, BULK_BATCH) : batchSize;
  for (let start = 0; start < participants.length; start += size) {
    const batch = participants.slice(start, start + size);
    if (bulk) {
      const counts = await bulk(surveyId, batch);
      added += counts.added;
      present += counts.present;
    } else {
      const tokens = batch.map((p) => p.token);
      const existing = new Set((await ls.listParticipants(surveyId, { limit: batch.length, conditions: { token: ['IN', ...tokens] } })).map((p) => p.token));
      const missing = batch.filter((p) => !existing.has(p.token));
      if (missing.length) {
        const answers = await ls.addParticipants(surveyId, missing);
        const refused = answers.filter((a) => a.errors);
        if (refused.length) {
          const first = refused[0];
          throw new StepError(`add_participants: LimeSurvey refused ${refused.length} code(s) of the batch starting at code ${start + 1} (${Object.entries(first.errors ?? {}).map(([k, v]) => `${k}: ${v.join(' ')}`).join('; ')}); ${added} added so far: fix the cause and run import-codes again (codes already loaded are skipped)`);
        }
      }
      added += missing.length;
      present += existing.size;
    }
    say(`import-codes: ${Math.min(start + size, participants.length)}/${participants.length} (${added} added, ${present} already there)`);
  }
  console.log(`survey ${surveyId}: ${added} code(s) added, ${present} already there; next: npm run survey -- check, then activate`);
}

/** Non-empty records of a CSV file: a free-text answer may hold line breaks inside its quotes. */
export function csvRecords(text: string): number {
  let records = 0;
  let inQuotes = false;
  let filled = false;
  for (const c of text) {
    if (c === '"') inQuotes = !inQuotes;
    if (c === '\n' && !inQuotes) {
      if (filled) records++;
      filled = false;
    } else if (!/\s/.test(c) && c !== '\uFEFF') filled = true;
  }
  return records + (filled ? 1 : 0);
}

async function results(ls: LimeSurvey, surveyId: number, out: string, completion: CompletionStatus): Promise<void> {
  const properties = await ls.getSurveyProperties(surveyId, PROPERTY_NAMES);
  const unsafe = evaluatePrivacy(properties, { table: true, count: 0, identified: 0 }).filter((f) => !f.ok && ANSWER_SETTINGS.includes(f.setting));
  if (unsafe.length) {
    for (const f of unsafe) console.log(findingLine(f));
    throw new StepError(`results: refused, survey ${surveyId}'s answers are not anonymous (${unsafe.map((f) => `${f.setting}=${f.actual}`).join(', ')}): exporting them would copy personal data; nothing written`);
  }
  const csv = await ls.exportResponses(surveyId, { format: 'csv', completion });
  try {
    writeFileSync(out, csv, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(code === 'EEXIST' ? `${out} exists: choose another --out (results never overwrites a file)` : `${out}: cannot write (${(err as Error).message})`);
  }
  const rows = Math.max(0, csvRecords(csv.toString('utf8')) - 1);
  console.log(`survey ${surveyId}: ${rows} ${completion === 'all' ? '' : `${completion} `}answer(s) written to ${out}`);
}

async function main(argv: readonly string[]): Promise<void> {
  const { command, args, surveyId, batchSize } = parse(argv);
  if (args.help || !command) {
    console.log(command ? COMMAND_USAGE[command] : USAGE);
    return;
  }
  // The file is checked whole before LimeSurvey is reached: a bad file changes nothing.
  let participants: NewParticipant[] = [];
  if (command === 'import-codes') {
    let text: string;
    try {
      text = readFileSync(args.participants!, 'utf8');
    } catch (err) {
      throw new InputError(`${args.participants}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give the limesurvey-participants.csv that npm run invitations wrote`);
    }
    participants = parseParticipants(text, args.participants!);
  }
  if (command === 'results') {
    try {
      readFileSync(args.out!);
      throw new InputError(`${args.out} exists: choose another --out (results never overwrites a file)`);
    } catch (err) {
      if (err instanceof InputError) throw err;
    }
  }
  const { ls, bulk } = await connect(args);
  try {
    switch (command) {
      case 'check': return args.active ? await checkActive(ls, args.json ?? false) : await check(ls, surveyId, args.fix ?? false);
      case 'activate': return await activate(ls, surveyId);
      case 'import-codes': return await importCodes(ls, surveyId, participants, batchSize, bulk);
      case 'results': return await results(ls, surveyId, args.out!, (args.completion ?? 'complete') as CompletionStatus);
    }
  } finally {
    await ls.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  // A flag mistake prints the usage of the command it was made in.
  const command = argv.find((a): a is Command => (COMMANDS as readonly string[]).includes(a));
  void runCommand(() => main(argv), command ? COMMAND_USAGE[command] : USAGE);
}
