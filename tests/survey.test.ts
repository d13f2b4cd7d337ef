// npm run survey's pure parts: the privacy check's evaluation of what LimeSurvey reports, and the
// participant file parser (the file invitations/outputs.ts writes).
import { describe, expect, it } from 'vitest';
import { generateCodes } from '../invitations/codes.js';
import { participantsCsv } from '../invitations/outputs.js';
import { readFileSync } from 'node:fs';
import { ROOT } from './helpers.js';
import { ANSWER_SETTINGS, PARTICIPANTS_HEADER, csvRecords, evaluatePrivacy, findingLine, parseParticipants } from '../scripts/survey.js';

const SAFE = { active: 'N', expires: '2027-03-31 23:59:00', anonymized: 'Y', ipaddr: 'N', ipanonymize: 'Y', refurl: 'N', savetimings: 'N', datestamp: 'N', allowsave: 'N', listpublic: 'N', allowregister: 'N' };
const CODES_ONLY = { table: true, count: 3, identified: 0 };

describe('evaluatePrivacy', () => {
  it('passes a safe survey with a participant table of codes only', () => {
    const findings = evaluatePrivacy(SAFE, CODES_ONLY);
    expect(findings.filter((f) => !f.ok)).toEqual([]);
    expect(findings.map((f) => f.setting)).toEqual(['anonymized', 'ipaddr', 'ipanonymize', 'refurl', 'savetimings', 'datestamp', 'allowsave', 'listpublic', 'allowregister', 'end date', 'participant table', 'participant names and e-mail']);
  });

  it('passes the example consultation Socle ships, as its file sets it, but for the end date the city chooses', () => {
    const lss = readFileSync(`${ROOT}/services/limesurvey/examples/rythmes-scolaires.lss`, 'utf8');
    // XML comments may not hold "--": LimeSurvey refuses the whole file then.
    for (const comment of lss.match(/<!--[\s\S]*?-->/g) ?? []) expect(comment.slice(4, -3)).not.toContain('--');
    const surveyRow = /<surveys>[\s\S]*?<row>([\s\S]*?)<\/row>/.exec(lss)![1];
    const properties = Object.fromEntries([...surveyRow.matchAll(/<(\w+)><!\[CDATA\[([^\]]*)\]\]><\/\1>/g)].map((m) => [m[1], m[2]]));
    expect(evaluatePrivacy({ active: 'N', ...properties }, CODES_ONLY).filter((f) => !f.ok).map((f) => f.setting)).toEqual(['end date']);
  });

  it('fails a survey without an end date (its answers would be kept for ever), which --fix cannot set', () => {
    for (const expires of [null, '']) {
      const end = evaluatePrivacy({ ...SAFE, expires }, CODES_ONLY).find((f) => f.setting === 'end date')!;
      expect(end).toMatchObject({ ok: false, actual: '(none)' });
      expect(end.set).toBeUndefined();
      expect(end.fix).toMatch(/answersKeptDays days after the survey's end.*Expiry date/);
    }
    const { expires: _, ...unreported } = SAFE;
    expect(evaluatePrivacy(unreported, CODES_ONLY).find((f) => f.setting === 'end date')).toMatchObject({ ok: false, actual: '(not reported)' });
  });

  it('fails each unsafe setting with the place to fix it and the property to set', () => {
    const findings = evaluatePrivacy({ ...SAFE, anonymized: 'N', datestamp: 'Y', listpublic: 'Y' }, CODES_ONLY);
    const failing = findings.filter((f) => !f.ok);
    expect(failing.map((f) => f.setting)).toEqual(['anonymized', 'datestamp', 'listpublic']);
    expect(failing.map((f) => f.set)).toEqual([{ anonymized: 'Y' }, { datestamp: 'N' }, { listpublic: 'N' }]);
    expect(findingLine(failing[0])).toMatch(/^FAIL  anonymized: N, want Y: otherwise each answer is linked to its code: set Settings → Participant settings → Anonymized responses to on/);
    expect(findingLine(findings.find((f) => f.ok)!)).toBe('ok    ipaddr: N');
  });

  it('on an active survey, offers no set for what LimeSurvey locks, and says what to do instead', () => {
    const findings = evaluatePrivacy({ ...SAFE, active: 'Y', ipaddr: 'Y', allowregister: 'Y' }, CODES_ONLY);
    const ipaddr = findings.find((f) => f.setting === 'ipaddr')!;
    expect(ipaddr.ok).toBe(false);
    expect(ipaddr.set).toBeUndefined();
    expect(ipaddr.fix).toMatch(/the survey is active and LimeSurvey no longer changes this: copy the survey/);
    expect(findings.find((f) => f.setting === 'allowregister')).toMatchObject({ ok: false, set: { allowregister: 'N' } });
  });

  it('fails a property LimeSurvey did not report (it drops unknown names silently), except ipanonymize', () => {
    const { datestamp: _, ipanonymize: __, ...rest } = SAFE;
    const findings = evaluatePrivacy(rest, CODES_ONLY);
    expect(findings.find((f) => f.setting === 'datestamp')).toMatchObject({ ok: false, actual: '(not reported)' });
    expect(findings.some((f) => f.setting === 'ipanonymize')).toBe(false);
  });

  it('fails a survey without participant table, and participants with a name or e-mail address', () => {
    expect(evaluatePrivacy(SAFE, { table: false, count: 0, identified: 0 }).filter((f) => !f.ok).map((f) => f.setting)).toEqual(['participant table']);
    const named = evaluatePrivacy(SAFE, { table: true, count: 10, identified: 2 }).find((f) => f.setting === 'participant names and e-mail')!;
    expect(named).toMatchObject({ ok: false, actual: '2 participant(s) with a name or e-mail address' });
  });

  it('names the answer settings results refuses on', () => {
    expect(ANSWER_SETTINGS).toEqual(['anonymized', 'ipaddr', 'refurl', 'savetimings', 'datestamp']);
  });
});

describe('parseParticipants', () => {
  const codes = generateCodes(5, 12);
  const good = participantsCsv(codes, { validFrom: '2027-01-04 00:00', validUntil: '2027-01-31 23:59' });
  const lines = good.trimEnd().split('\n');
  const withLine = (n: number, line: string) => [...lines.slice(0, n - 1), line, ...lines.slice(n)].join('\n');
  const row = (fields: Record<number, string>) => {
    const f = lines[1].split(',');
    for (const [i, v] of Object.entries(fields)) f[Number(i)] = v;
    return f.join(',');
  };

  it('reads the file invitations/outputs.ts writes, CRLF and BOM included', () => {
    const participants = parseParticipants(good, 'p.csv');
    expect(participants.map((p) => p.token)).toEqual([...codes].sort());
    expect(participants[0]).toEqual({ token: [...codes].sort()[0], validfrom: '2027-01-04 00:00', validuntil: '2027-01-31 23:59', sent: 'N', remindersent: 'N', remindercount: 0, completed: 'N', usesleft: 1 });
    expect(parseParticipants(`\uFEFF${good.replace(/\n/g, '\r\n')}`, 'p.csv')).toHaveLength(5);
    expect(PARTICIPANTS_HEADER).toBe(lines[0]);
  });

  it.each([
    ['an empty file', '', /^p\.csv:1: empty file/],
    ['another header', good.replace('firstname,', 'prenom,'), /^p\.csv:1: not a Socle participant file: the first line must be\n  firstname,lastname,email/],
    ['a header only', `${lines[0]}\n`, /^p\.csv:2: no codes after the header/],
    ['an empty line', withLine(3, ''), /^p\.csv:3: empty line: remove it/],
    ['a spreadsheet re-save', withLine(2, lines[1].replace(/,/g, ';')), /^p\.csv:2: quotes or semicolons: the file was re-saved by a spreadsheet/],
    ['a missing field', withLine(2, lines[1].replace(/,1$/, '')), /^p\.csv:2: 12 fields, want 13/],
    ['an e-mail address', withLine(4, row({ 2: 'jean@example.invalid' })), /^p\.csv:4: email is filled in: the survey must never learn who holds a code/],
    ['a name', withLine(2, row({ 1: 'Dupont' })), /^p\.csv:2: lastname is filled in/],
    ['no code', withLine(2, row({ 4: '' })), /^p\.csv:2: no code in the token column/],
    ['a code with a wrong check character', withLine(2, row({ 4: `${codes[0].slice(0, -1)}${codes[0].endsWith('2') ? '3' : '2'}` })), /^p\.csv:2: ".*" is not a Socle invitation code/],
    ['a code as printed, with dashes', withLine(2, row({ 4: `${codes[0].slice(0, 4)}-${codes[0].slice(4)}` })), /^p\.csv:2: ".*-.*" is not a Socle invitation code \(upper case, no dashes/],
    ['a lower-case code', withLine(2, row({ 4: codes[0].toLowerCase() })), /^p\.csv:2: .* is not a Socle invitation code/],
    ['a duplicate', `${good}${lines[3]}\n`, /^p\.csv:7: code already on line 4: each code is for one household/],
    ['codes of two lengths', `${good}${participantsCsv(generateCodes(1, 9), {}).split('\n')[1]}\n`, /^p\.csv:7: a code of 10 characters among codes of 13: two generations mixed/],
    ['a bad date', withLine(2, row({ 7: '31/01/2027' })), /^p\.csv:2: validuntil "31\/01\/2027" is not YYYY-MM-DD HH:MM/],
    ['a used code', withLine(2, row({ 11: 'Y' })), /^p\.csv:2: completed is "Y": a code to import has not been used/],
    ['zero uses', withLine(2, row({ 12: '0' })), /^p\.csv:2: usesleft "0" must be a whole number of at least 1/],
    ['a bad reminder count', withLine(2, row({ 10: 'x' })), /^p\.csv:2: remindercount "x" is not a whole number/],
  ])('refuses %s with file:line and the fix', (_, text, message) => {
    expect(() => parseParticipants(text, 'p.csv')).toThrow(message);
    try {
      parseParticipants(text, 'p.csv');
    } catch (err) {
      expect((err as { exitStatus: number }).exitStatus).toBe(2);
    }
  });
});

describe('csvRecords', () => {
  it('counts records, not lines: an answer may hold line breaks', () => {
    expect(csvRecords('\uFEFF"id";"q1"\n"1";"one\ntwo"\n"2";"x"\n \n')).toBe(3);
    expect(csvRecords('"id";"q1"')).toBe(1);
    expect(csvRecords('')).toBe(0);
  });
});
