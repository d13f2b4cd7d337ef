// npm run survey: what it does with bad input before reaching LimeSurvey (exit 2, usage or the
// fix), and with a LimeSurvey that does not answer (exit 1). The commands against a real
// LimeSurvey are exercised by the engine tests of Socle's LimeSurvey image.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLE, TSX, exampleCity, run, tempDir, writeCity } from './helpers.js';

const URL = 'http://127.0.0.1:9/index.php/admin/remotecontrol';
const survey = (args: string[], env: Record<string, string> = {}) => run(TSX, ['scripts/survey.ts', ...args], { SOCLE_LIMESURVEY_ADMIN_PASSWORD: '', ...env });

describe('npm run survey', () => {
  it('prints its usage with --help, naming every command', () => {
    const r = survey(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['check', 'import-codes', 'activate', 'results']) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(r.stdout).toMatch(/SOCLE_LIMESURVEY_ADMIN_PASSWORD/);
    expect(r.stdout).toMatch(/exit status: 0 ok, 1 .*, 2 bad input/);
  });

  it.each([
    ['check', /usage: npm run survey -- check .*--fix/],
    ['import-codes', /usage: npm run survey -- import-codes .*--participants FILE/],
    ['activate', /usage: npm run survey -- activate/],
    ['results', /usage: npm run survey -- results .*--out FILE/],
  ])('prints the usage of %s with --help', (command, usage) => {
    const r = survey([command, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(usage);
    expect(r.stdout).toMatch(/^exit status: /m);
  });

  it.each([
    [[], /a command is required/, /usage: npm run survey -- COMMAND/],
    [['frobnicate'], /unknown command "frobnicate"; commands: check, import-codes, activate, results/, /usage: npm run survey -- COMMAND/],
    [['check', '--survey', '1'], /--url URL or --config FILE is required/, /usage: npm run survey -- check/],
    [['check', '--url', URL, '--config', EXAMPLE, '--survey', '1'], /give --url or --config, not both/, /usage: npm run survey -- check/],
    [['check', '--url', 'enquetes.ville.fr', '--survey', '1'], /--url must be an http\(s\) address/, /usage: npm run survey -- check/],
    [['check', '--url', URL], /--survey ID is required/, /usage: npm run survey -- check/],
    [['check', '--url', URL, '--survey', 'abc'], /--survey must be the survey's number, e\.g\. --survey 123456; got "abc"/, /usage: npm run survey -- check/],
    [['activate', '--url', URL, '--survey', '1', '--fix'], /--fix applies to check only/, /usage: npm run survey -- activate/],
    [['import-codes', '--url', URL, '--survey', '1'], /import-codes needs --participants FILE/, /usage: npm run survey -- import-codes/],
    [['import-codes', '--url', URL, '--survey', '1', '--participants', 'p.csv', '--batch-size', '0'], /--batch-size must be a whole number from 1 to 10000, got "0"/, /usage: npm run survey -- import-codes/],
    [['results', '--url', URL, '--survey', '1'], /results needs --out FILE/, /usage: npm run survey -- results/],
    [['results', '--url', URL, '--survey', '1', '--out', 'x.csv', '--completion', 'half'], /--completion must be complete, incomplete or all; got "half"/, /usage: npm run survey -- results/],
    [['check', '--url', URL, '--survey', '1', '--colour'], /Unknown option '--colour'/, /usage: npm run survey -- check/],
    [['check', 'extra', '--url', URL, '--survey', '1'], /unexpected argument\(s\): extra/, /usage: npm run survey -- check/],
    [['check', '--url', URL, '--active', '--survey', '1'], /check --active reads every active survey: give it without --survey and --fix/, /usage: npm run survey -- check/],
    [['activate', '--url', URL, '--survey', '1', '--json'], /--json applies to check only/, /usage: npm run survey -- activate/],
  ])('fails with exit 2 and the usage for %j', (args, message, usage) => {
    const r = survey(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(usage);
  });

  it('fails with exit 2 naming the variable when the password is not set', () => {
    const r = survey(['check', '--url', URL, '--survey', '123456']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/SOCLE_LIMESURVEY_ADMIN_PASSWORD is not set: export it with the password of LimeSurvey user "admin"/);
  });

  it('fails with exit 2 and file:line on a malformed participant file, before reaching LimeSurvey', () => {
    const file = join(tempDir(), 'limesurvey-participants.csv');
    writeFileSync(file, 'firstname,lastname,email,emailstatus,token,language,validfrom,validuntil,invited,reminded,remindercount,completed,usesleft\n,,,,22KVCFC8FKEFW,,,,N,N,0,N,1\n');
    const r = survey(['import-codes', '--url', URL, '--survey', '123456', '--participants', file], { SOCLE_LIMESURVEY_ADMIN_PASSWORD: 'x' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/limesurvey-participants\.csv:2: "22KVCFC8FKEFW" is not a Socle invitation code/);
  });

  it('fails with exit 2 when the participant file cannot be read', () => {
    const r = survey(['import-codes', '--url', URL, '--survey', '123456', '--participants', join(tempDir(), 'absent.csv')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/absent\.csv: cannot read \(ENOENT\)/);
  });

  it('fails with exit 1 and what to check when LimeSurvey does not answer', () => {
    const r = survey(['check', '--url', URL, '--survey', '123456'], { SOCLE_LIMESURVEY_ADMIN_PASSWORD: 'x' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/get_session_key: LimeSurvey at http:\/\/127\.0\.0\.1:9\/index\.php\/admin\/remotecontrol does not answer \(.*\): check the address/);
  });

  it('reaches RemoteControl over SSH to the LimeSurvey host with --config (the proxy refuses it from outside)', () => {
    // The host's SSH address on loopback, where nothing listens: nothing leaves this machine.
    const city = exampleCity();
    const host = city.hosts.find((h: { name: string }) => h.name === (city.services.limesurvey.host ?? city.hosts[0].name));
    host.ssh = { ...host.ssh, address: '127.0.0.1', port: 9 };
    const r = survey(['check', '--config', writeCity(city), '--survey', '123456'], { SOCLE_LIMESURVEY_ADMIN_PASSWORD: 'x' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/get_session_key: LimeSurvey at ssh:\/\/\S+@127\.0\.0\.1:9 → ville-exemple-limesurvey-app\/index\.php\/admin\/remotecontrol does not answer \(ssh to \S+ .*failed \(exit 255\)/);
  });
});
