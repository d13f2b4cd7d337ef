// Socle's LimeSurvey image on the engine: built by global setup from the release archive this
// machine holds (never downloaded by the tests), deployed with the ville-enquete city behind the
// proxy. Without an archive every test here is reported as NOT RUN, never as passed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { DeployedCity, envOf, remoteControl, waitAllHealthy } from './deployed-city.js';
import { gotoSteadily, launchChromium } from './browser.js';
import { COOKIES_NOTICE_PATH, listedCookies } from '../../services/reverse-proxy/cookies-notice.js';
import { lookedIn, presentArchive } from './release-archives.js';
import { TEST_REGISTRY } from './global-setup.js';
import { TEST_SECRETS } from './test-city.js';
import { clearMailbox, relayedMessageProblems, waitForMessages } from './mta.js';
import { imageReference } from '../../services/common/images.js';
import { formatCode, generateCodes } from '../../invitations/codes.js';
import { participantsCsv } from '../../invitations/outputs.js';
import { ROOT, TSX, tempDir } from '../helpers.js';
import { startResolver } from './dns.js';

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });
const SLUG = 'ville-enquete';
const name = (s: string) => `${SLUG}-${s}`;
const APP = name('limesurvey-app');
const DB = name('limesurvey-db');
const PROXY = name('proxy-nginx');
const HOST = 'enquetes-reelles.ville-test.fr';
const PORT = 38443;
const SURVEY = 444444;
/** The example consultation Socle ships (services/limesurvey/examples), answered end to end. */
const CONSULTATION = 100001;
/** A survey the mail test makes and deletes. */
const MAIL_SURVEY = 100002;
const RUNNER = name('backup-restic');
const TOR = name('onion-tor');
const archive = presentArchive('limesurvey');

let city: DeployedCity;

const rc = (method: string, ...params: unknown[]) => remoteControl(APP, method, ...params);

/** A survey end date `days` from now (negative: past), as LimeSurvey stores it. */
const endIn = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
/** services.limesurvey.answersKeptDays of the test city: the default. */
const ANSWERS_KEPT_DAYS = 180;

async function sql(query: string): Promise<string> {
  return (await q`docker exec --env ${`MYSQL_PWD=${await envOf(APP, 'DB_PASSWORD')}`} ${DB} mariadb -h127.0.0.1 -ulimesurvey limesurvey -N -B -e ${query}`).stdout.trim();
}

/** curl through the proxy to LimeSurvey's name. */
const viaProxy = (path: string, extra: string[] = []) => city.viaProxy(HOST, PORT, path, extra);

/** A citizen opens the survey and types `typed` into its code form: true when the questions follow. */
async function typeCode(typed: string, headers: string[] = []): Promise<boolean> {
  const jar = join(tempDir(), 'cookies');
  const headerArgs = headers.flatMap((h) => ['-H', h]);
  const page = (await viaProxy(`/${SURVEY}?lang=fr`, ['-c', jar, '-b', jar, ...headerArgs])).stdout;
  const csrf = /<input[^>]*value="([^"]*)"[^>]*name="YII_CSRF_TOKEN"|<input[^>]*name="YII_CSRF_TOKEN"[^>]*value="([^"]*)"/.exec(page);
  if (!csrf) throw new Error(`no code form on the survey page:\n${page.slice(0, 600)}`);
  const after = await viaProxy(`/${SURVEY}`, ['-c', jar, '-b', jar, ...headerArgs, '--data-urlencode', `token=${typed}`, '--data-urlencode', `YII_CSRF_TOKEN=${csrf[1] ?? csrf[2]}`, '--data', 'lang=fr']);
  return after.stdout.includes('LEMpostKey');
}

/** `npm run survey -- ARGS --config <city>`, as the city's administrator runs it. */
async function survey(...args: string[]) {
  const env = { ...process.env, SOCLE_LIMESURVEY_ADMIN_PASSWORD: await envOf(APP, 'ADMIN_PASSWORD') };
  return $({ quiet: true, nothrow: true, env })`${TSX} ${join(ROOT, 'scripts/survey.ts')} ${args} --config ${city.city.config}`;
}

/**
 * A citizen in Chromium: opens `url`, types the printed code, answers `answer`, and sends. Returns
 * every URL the browser asked for, and the cookies it holds at the end.
 */
async function answerInBrowser(url: string, printedCode: string, answer: 'A1' | 'A2', resolverRules: string): Promise<{ requested: string[]; cookies: string[] }> {
  const browser = await launchChromium(resolverRules);
  try {
    const page = await browser.newPage({ ignoreHTTPSErrors: true });
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    await gotoSteadily(page, url);
    await page.fill('input[name="token"]', printedCode);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    for (let step = 0; step < 4 && !(await page.content()).includes('votre réponse est enregistrée'); step++) {
      const choice = page.locator(`input[type="radio"][value="${answer}"]`);
      if (await choice.count()) await choice.check({ force: true });
      await Promise.all([page.waitForNavigation(), page.click('#ls-button-submit')]);
    }
    expect(await page.content(), `the answer was not sent from ${url}`).toContain('Merci, votre réponse est enregistrée.');
    const cookies = (await page.context().cookies()).map((c) => `${c.domain.replace(/^\./, '')} ${c.name}${c.expires === -1 ? '' : ' (persistent)'}`);
    return { requested, cookies };
  } finally {
    await browser.close();
  }
}

/**
 * answerInBrowser with the first of `codes`, and again with the next when Chromium aborted it with
 * ERR_NETWORK_CHANGED (it drops requests in flight whenever Docker adds or removes a bridge, as
 * the other test worker does). A code whose answer was not sent is left unused, as a citizen who
 * closed the page leaves it. Returns the code that answered.
 */
async function answerWithSpareCodes(url: string, codes: readonly string[], printed: (code: string) => string, answer: 'A1' | 'A2', resolverRules: string): Promise<{ requested: string[]; cookies: string[]; code: string }> {
  for (const [i, code] of codes.entries()) {
    try {
      return { ...(await answerInBrowser(url, printed(code), answer, resolverRules)), code };
    } catch (e) {
      if (i === codes.length - 1 || !String(e).includes('net::ERR_NETWORK_CHANGED')) throw e;
      console.warn(`answer with code ${i + 1} aborted by a network change on this machine (ERR_NETWORK_CHANGED): again with the next code`);
    }
  }
  throw new Error('no code to answer with');
}

if (!archive) {
  const why = `NOT RUN — no LimeSurvey release archive on this machine (looked in ${lookedIn('limesurvey')}); the image was not built`;
  console.warn(`\n*** tests/engine/limesurvey.test.ts: ${why} ***\n`);
  describe('Socle\'s LimeSurvey image on the engine', () => {
    it.skip(why, () => undefined);
  });
} else {
  beforeAll(async () => {
    city = await DeployedCity.up(SLUG);
    const seconds = await waitAllHealthy(city.containers, 300);
    console.log(`LimeSurvey ${archive.version} (${archive.file}) deployed; all healthy ${seconds.toFixed(0)} s after the apply`);
  }, 900_000);

  afterAll(async () => {
    if (process.env.SOCLE_TEST_KEEP) return;
    await city?.down();
  });

  describe('Socle\'s LimeSurvey image on the engine', () => {
    it('is installed by code at its first start, with keys generated at deploy and none in the image', async () => {
      // The citizen-facing site answers through the proxy; the web installer does not exist for it.
      expect((await viaProxy('/index.php/admin/authentication/sa/login', ['--output', '/dev/null', '--write-out', '%{http_code}'])).stdout).toBe('200');
      expect((await viaProxy('/index.php/installer')).stdout).toContain('Installation has been done already. Installer disabled.');
      expect((await q`docker logs ${APP}`).stderr).toMatch(/empty database: installing LimeSurvey \d+ by code\nsocle-limesurvey: installed/);
      // The administrator's password is the generated one.
      expect(typeof await rc('list_surveys')).not.toBe('undefined');
      expect(await envOf(APP, 'LIMESURVEY_ENCRYPTION_KEY')).toMatch(/^[0-9a-f]{64}$/);
      expect(await envOf(APP, 'LIMESURVEY_ENCRYPTION_NONCE')).toMatch(/^[0-9a-f]{48}$/);
      // The image carries no per-installation file: config.php and security.php point at the tmpfs.
      const image = imageReference('limesurvey', TEST_REGISTRY, {});
      const files = await q`docker run --rm --network none --entrypoint sh ${image} -c ${'readlink application/config/config.php application/config/security.php; grep -rl "encryptionsecretboxkey.. = .[0-9a-f]" application/config || true'}`;
      expect(files.stdout.trim().split('\n')).toEqual(['/etc/socle/limesurvey/config.php', '/etc/socle/limesurvey/security.php']);
      const settings = JSON.parse((await q`docker inspect --format ${'{{json .HostConfig}}'} ${APP}`).stdout);
      expect(settings.ReadonlyRootfs).toBe(true);
      expect((await q`docker inspect --format {{.Config.User}} ${APP}`).stdout.trim()).toBe('www-data');
    });

    it('keeps mail on the city relay and the update checks off at every start, and never installs over its data', async () => {
      const lss = (await q`docker exec ${APP} base64 -w0 docs/demosurveys/ls205_countifop_sumifop.lss`).stdout.trim();
      expect(await rc('import_survey', lss, 'lss', 'Consultation test', SURVEY)).toBe(SURVEY);
      // What an administrator saving the global settings, or an update, would leave in the database.
      await sql("REPLACE INTO lime_settings_global (stg_name, stg_value) VALUES ('emailsmtphost', 'smtp.prestataire.example:587')");
      await sql("UPDATE lime_plugins SET active = 1 WHERE name IN ('UpdateCheck', 'ComfortUpdateChecker')");
      // Failed attempts keep addresses: a two-day-old one goes at start, a recent one stays.
      await sql("INSERT INTO lime_failed_login_attempts (ip, last_attempt, number_attempts, is_frontend) VALUES ('203.0.113.1', DATE_SUB(NOW(), INTERVAL 2 DAY), 1, 1), ('203.0.113.2', NOW(), 1, 1)");
      await city.recreate(APP);
      await waitAllHealthy([APP], 240);
      expect(await sql("SELECT COUNT(*) FROM lime_settings_global WHERE stg_name = 'emailsmtphost'")).toBe('0');
      expect(await sql("SELECT name, active FROM lime_plugins WHERE name IN ('UpdateCheck', 'ComfortUpdateChecker', 'SocleInvitationCodes') ORDER BY name")).toBe('ComfortUpdateChecker\t0\nSocleInvitationCodes\t1\nUpdateCheck\t0');
      expect(await sql("SELECT stg_value FROM lime_settings_global WHERE stg_name = 'RPCInterface'")).toBe('json');
      expect(await sql("SELECT ip FROM lime_failed_login_attempts WHERE ip LIKE '203.0.113.%'")).toBe('203.0.113.2');
      // The same installation: the survey is still there, nothing was installed again.
      expect((await rc('list_surveys')).map((s: { sid: number | string }) => Number(s.sid))).toContain(SURVEY);
      expect((await q`docker logs ${APP}`).stderr).not.toMatch(/installing/);
    }, 400_000);

    it('sends its mail through the gateway to the city\'s relay: a real message, TLS checked against the city CA, signed, from the city', async () => {
      // A survey of its own, from the example Socle ships (no administrator address of its own: the
      // city's sender applies); one participant, a city mailbox of the test MTA. (Socle's
      // consultations print codes on paper: this only proves the route LimeSurvey's mail takes.)
      const mailbox = 'invitation-test@ville-test.fr';
      await clearMailbox(mailbox);
      const lss = readFileSync(join(ROOT, 'services/limesurvey/examples/rythmes-scolaires.lss')).toString('base64');
      expect(await rc('import_survey', lss, 'lss', 'Essai de courriel', MAIL_SURVEY)).toBe(MAIL_SURVEY);
      expect(await rc('activate_tokens', MAIL_SURVEY, [])).toMatchObject({ status: 'OK' });
      const [participant] = await rc('add_participants', MAIL_SURVEY, [{ email: mailbox, firstname: 'Essai', lastname: 'Courriel' }], true);
      expect(participant.tid).toBeDefined();
      const sent = await rc('invite_participants', MAIL_SURVEY, [Number(participant.tid)], true);
      expect(JSON.stringify(sent)).toMatch(/"status":"0 left to send"/);
      const [raw] = await waitForMessages(mailbox, 1, 60_000);
      // LimeSurvey's PHPMailer reached the relay through the gateway, over TLS, as the city.
      expect(await relayedMessageProblems(raw, 'ville-test.fr')).toEqual([]);
      // STARTTLS with the certificate checked: the container trusts the city CA only (SSL_CERT_FILE).
      expect(await envOf(APP, 'SSL_CERT_FILE')).toBe('/etc/socle/mail/relay-ca.pem');
      expect(await rc('delete_survey', MAIL_SURVEY)).toMatchObject({ status: 'OK' });
      await clearMailbox(mailbox);
    }, 180_000);

    it('accepts a printed code as the citizen types it, through the proxy, and counts wrong codes by the citizen\'s own address', async () => {
      const [code] = generateCodes(1, 12);
      expect(await rc('set_survey_properties', SURVEY, { anonymized: 'Y', ipaddr: 'N', ipanonymize: 'Y', refurl: 'N', savetimings: 'N', datestamp: 'N', allowsave: 'N', listpublic: 'N', allowregister: 'N', expires: endIn(30) })).toMatchObject({ anonymized: true, expires: true });
      expect(await rc('activate_tokens', SURVEY, [])).toEqual({ status: 'OK' });
      expect((await rc('add_participants', SURVEY, [{ token: code, usesleft: 1 }], false))[0].token).toBe(code);
      expect((await rc('activate_survey', SURVEY)).status).toBe('OK');
      // As printed (dashed groups), in lower case, with spaces: Socle's plugin finds the code.
      expect(await typeCode(` ${formatCode(code).toLowerCase().replace(/-/g, ' - ')} `)).toBe(true);
      // A wrong code is refused, and counted against the address the proxy saw, not the proxy's
      // own, nor what the client claims in X-Forwarded-For.
      await sql('DELETE FROM lime_failed_login_attempts');
      expect(await typeCode('WRONGCODE2345', ['X-Forwarded-For: 198.51.100.9', 'Client-IP: 198.51.100.10'])).toBe(false);
      const recorded = await sql('SELECT ip FROM lime_failed_login_attempts');
      const proxyAddress = (await q`docker inspect --format ${'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}'} ${PROXY}`).stdout.trim().split(' ');
      expect(recorded).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(proxyAddress).not.toContain(recorded);
      expect(recorded).not.toMatch(/^198\.51\.100\./);
      // The proxy logged the request from the same address, kept to its first two bytes on the
      // survey site, and never a code or a query string, even when the code comes in the address.
      await viaProxy(`/${SURVEY}?token=${code}&lang=fr`, ['--output', '/dev/null']);
      await viaProxy(`/survey/index/sid/${SURVEY}/token/${code}`, ['--output', '/dev/null']);
      const log = (await q`docker exec ${PROXY} sh -c ${'cat /var/log/nginx/access-*.log'}`).stdout;
      expect(log).toContain(`${recorded.split('.').slice(0, 2).join('.')}.0.0 [`);
      expect(log).not.toContain(`${recorded} [`);
      expect(log).toContain(`"GET /survey/index/sid/${SURVEY}/token/-"`);
      expect(log).not.toContain(code);
      expect(log).not.toMatch(/"GET [^"]*\?/);
      // RemoteControl is for the stack's own network: the proxy refuses it from outside; npm run
      // survey reaches it over SSH, as the deploy does, and finds the survey private.
      expect((await viaProxy('/index.php/admin/remotecontrol', ['--output', '/dev/null', '--write-out', '%{http_code}', '--data', '{}'])).stdout).toBe('404');
      const check = await $({ quiet: true, nothrow: true, env: { ...process.env, SOCLE_LIMESURVEY_ADMIN_PASSWORD: await envOf(APP, 'ADMIN_PASSWORD') } })`${TSX} ${join(ROOT, 'scripts/survey.ts')} check --config ${city.city.config} --survey ${SURVEY}`;
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toMatch(/anonymized/);
    }, 180_000);

    it('refuses to start on a database of another version, without installing over it', async () => {
      const version = await sql("SELECT stg_value FROM lime_settings_global WHERE stg_name = 'DBVersion'");
      await sql("UPDATE lime_settings_global SET stg_value = '1' WHERE stg_name = 'DBVersion'");
      try {
        await q`docker restart ${APP}`;
        let logs = '';
        for (let i = 0; i < 60 && !/is at version 1,/.test(logs); i++) {
          await new Promise((r) => setTimeout(r, 1000));
          logs = (await qn`docker logs --since 2m ${APP}`).stderr;
        }
        expect(logs).toMatch(new RegExp(`the database is at version 1, this image's LimeSurvey needs ${version}: an upgrade migrates the answers, so it is not done at start; npm run deploy -- --apply takes a backup first, then upgrades`));
        expect(await sql("SELECT COUNT(*) FROM lime_surveys WHERE sid = 444444")).toBe('1');
      } finally {
        await sql(`UPDATE lime_settings_global SET stg_value = '${version}' WHERE stg_name = 'DBVersion'`);
        await q`docker restart ${APP}`;
        await waitAllHealthy([APP], 240);
      }
    }, 400_000);
    it('links no citizen to an answer: not in a log, a database row, a dump, a backup or a session', async () => {
      // The example consultation, private as shipped; codes from the print room's file; activated by
      // npm run survey, which refuses a survey that is not.
      const lss = readFileSync(join(ROOT, 'services/limesurvey/examples/rythmes-scolaires.lss')).toString('base64');
      expect(await rc('import_survey', lss, 'lss', 'Rythmes scolaires', CONSULTATION)).toBe(CONSULTATION);
      // The end date is the city's choice (the example has none): activate refuses a survey without one.
      const refused = await survey('activate', '--survey', String(CONSULTATION));
      expect(refused.exitCode, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stdout).toMatch(/FAIL  end date: \(none\), want a date: .*Expiry date/);
      expect(await rc('set_survey_properties', CONSULTATION, { expires: endIn(30) })).toMatchObject({ expires: true });
      await sql('DELETE FROM lime_failed_login_attempts');
      const codes = generateCodes(40, 12);
      const participants = join(tempDir(), 'limesurvey-participants.csv');
      writeFileSync(participants, participantsCsv(codes, {}));
      for (const step of [['import-codes', '--participants', participants], ['import-codes', '--participants', participants], ['activate']]) {
        const r = await survey(...step, '--survey', String(CONSULTATION));
        expect(r.exitCode, `${step[0]}: ${r.stdout}${r.stderr}`).toBe(0);
      }
      // Loaded once, whatever the number of runs.
      expect(await sql(`SELECT COUNT(*), COUNT(DISTINCT token), SUM(usesleft = 1 AND completed = 'N' AND emailstatus = 'OK') FROM lime_tokens_${CONSULTATION}`)).toBe('40\t40\t40');

      // Two citizens answer in a real browser: one on the city's name, one on the onion site (the
      // proxy's virtual host Tor forwards to, reached here directly: this test keeps Tor offline).
      const onionMap = (await q`docker exec ${PROXY} cat /var/lib/socle/onion-addresses/limesurvey.map`).stdout;
      const onion = /http:\/\/([a-z2-7]{56}\.onion)/.exec(onionMap)?.[1];
      expect(onion, onionMap).toBeDefined();
      const proxyAddress = (await q`docker inspect --format ${'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}'} ${PROXY}`).stdout.trim().split(' ')[0];
      const clearnet = await answerWithSpareCodes(`https://${HOST}:${PORT}/${CONSULTATION}?lang=fr`, [codes[0], codes[2]], formatCode, 'A1', 'MAP *.ville-test.fr 127.0.0.1');
      const viaOnion = await answerWithSpareCodes(`http://${onion}:8082/${CONSULTATION}?lang=fr`, [codes[1], codes[3]], (c) => formatCode(c).toLowerCase(), 'A2', `MAP *.onion ${proxyAddress}`);
      const [clearnetCode, onionCode] = [clearnet.code, viaOnion.code];
      // Each browser asked its own site for everything: no other host, and the onion visitor was
      // never sent to the clearnet name.
      const elsewhere = (urls: string[], host: string) => urls.filter((u) => /^(https?|wss?):/.test(u) && new URL(u).host !== host);
      expect(elsewhere(clearnet.requested, `${HOST}:${PORT}`)).toEqual([]);
      expect(elsewhere(viaOnion.requested, `${onion}:8082`)).toEqual([]);
      expect(clearnet.requested.length).toBeGreaterThan(3);
      // The cookies the citizen was given are the session ones the served notice lists for this site, no other.
      const notice = (await viaProxy(COOKIES_NOTICE_PATH)).stdout;
      const listed = listedCookies(notice).map((l) => `${l.hostname} ${l.name}`);
      expect(clearnet.cookies.length).toBeGreaterThan(0);
      expect(listed).toEqual(expect.arrayContaining(clearnet.cookies));
      expect(viaOnion.cookies.map((c) => c.replace(onion!, HOST)).sort()).toEqual([...clearnet.cookies].sort());

      // The answers are there, anonymous: no code, address, referrer or date in the response table,
      // and each code is only "completed" (Y, not a date) in the participant table.
      const table = `lime_survey_${CONSULTATION}`;
      const columns = (await sql(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'limesurvey' AND table_name = '${table}' ORDER BY ordinal_position`)).split('\n');
      expect(columns.slice(0, 5)).toEqual(['id', 'submitdate', 'lastpage', 'startlanguage', 'seed']);
      expect(columns).not.toEqual(expect.arrayContaining(['token']));
      for (const c of ['ipaddr', 'refurl', 'startdate', 'datestamp']) expect(columns).not.toContain(c);
      const rows = (await sql(`SELECT * FROM ${table} ORDER BY id`)).split('\n');
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row).toMatch(/^\d+\t1980-01-01 00:00:00\t/);
      expect(rows.map((r) => r.split('\t').at(-1)).sort()).toEqual(['A1', 'A2']);
      expect(await sql(`SELECT completed, usesleft FROM lime_tokens_${CONSULTATION} WHERE token IN ('${clearnetCode}', '${onionCode}')`)).toBe('Y\t0\nY\t0');
      expect(await sql(`SELECT COUNT(*) FROM lime_tokens_${CONSULTATION} WHERE completed <> 'N'`)).toBe('2');
      // MariaDB keeps no statement log that would hold the code's update beside the answer's insert.
      expect(await sql('SELECT @@log_bin, @@general_log, @@slow_query_log')).toBe('0\t0\t0');
      const exported = join(tempDir(), 'resultats.csv');
      const results = await survey('results', '--survey', String(CONSULTATION), '--out', exported);
      expect(results.exitCode, results.stderr).toBe(0);
      expect(readFileSync(exported, 'utf8')).not.toMatch(new RegExp(`${clearnetCode}|${onionCode}`));

      // The addresses the citizens came from, as the proxy saw them: the bridges' gateways.
      const gateways = (await q`docker network inspect --format ${'{{range .IPAM.Config}}{{.Gateway}} {{end}}'} ${(await q`docker network ls --quiet --filter ${`label=fr.socle.commune=${SLUG}`}`).stdout.trim().split('\n')}`).stdout.split(/\s+/).filter(Boolean);
      expect(gateways.length).toBeGreaterThan(0);
      const linking = new RegExp([clearnetCode, onionCode, ...gateways.map((g) => `(?<![\\d.])${g.replace(/\./g, '\\.')}(?![\\d.])`)].join('|'));

      // The access logs: both visits, each line with the start of an address only, no code.
      const logs = (await q`docker exec ${PROXY} sh -c ${'cat /var/log/nginx/access-*.log'}`).stdout.split('\n');
      const surveyLines = logs.filter((l) => l.includes(`"POST /${CONSULTATION}"`) || l.includes(`/${CONSULTATION}"`));
      expect(surveyLines.some((l) => l.includes(`"${HOST}"`))).toBe(true);
      expect(surveyLines.some((l) => l.includes(`"${onion}"`))).toBe(true);
      for (const line of logs.filter((l) => l.includes(`"${HOST}"`) || l.includes(`"${onion}"`))) expect(line).toMatch(/^(\d+\.\d+\.0\.0|-) \[/);
      expect(logs.join('\n')).not.toMatch(linking);
      // The containers' own logs, and LimeSurvey's sessions (on its tmpfs) once the answers are in.
      for (const container of [PROXY, APP, DB, TOR]) {
        const out = await q`docker logs ${container}`;
        expect(`${out.stdout}${out.stderr}`, `docker logs ${container}`).not.toMatch(new RegExp(`${clearnetCode}|${onionCode}`));
      }
      const sessions = (await q`docker exec ${APP} sh -c ${'cat /tmp/sessions/* 2>/dev/null || true'}`).stdout;
      expect(sessions).not.toMatch(new RegExp(`${clearnetCode}|${onionCode}`));
      // Failed attempts (which keep addresses) hold none of these visits: both codes were right.
      expect(await sql('SELECT COUNT(*) FROM lime_failed_login_attempts')).toBe('0');

      // The backup: the dump in the snapshot holds each code once, in the participant table, and
      // the answers with nothing that leads back to it.
      const run = await $({ quiet: true, nothrow: true, env: { ...process.env, ...TEST_SECRETS } })`${TSX} ${join(ROOT, 'scripts/backup.ts')} run --config ${city.city.config} --docker-host unix:///var/run/docker.sock`;
      expect(run.exitCode, run.stderr).toBe(0);
      // Read by statement: a table's rows may span several lines of the dump.
      const statements = (await q`docker exec ${RUNNER} socle-backup dump store latest limesurvey-mariadb.sql`).stdout.split(/;\n/);
      const tableOf = (statement: string) => /INSERT INTO `([^`]+)`/.exec(statement)?.[1] ?? statement.trim().slice(0, 80);
      const mentioning = (code: string) => statements.filter((st) => st.includes(code)).map(tableOf);
      expect(mentioning(clearnetCode)).toEqual([`lime_tokens_${CONSULTATION}`]);
      expect(mentioning(onionCode)).toEqual([`lime_tokens_${CONSULTATION}`]);
      const answers = statements.filter((st) => tableOf(st) === table);
      expect(answers.join('\n')).toMatch(/'A1'/);
      for (const st of answers) expect(st).not.toMatch(linking);
      expect(statements.join(';\n')).not.toMatch(new RegExp(gateways.map((g) => `'${g.replace(/\./g, '\\.')}'`).join('|')));
    }, 600_000);
    it('passes the auditor\'s AUD-LIVE-SURVEYS (finding F8) on surveys that take codes only, and fails it on one open to registration', async () => {
      // Only the surveys are observed: the resolver knows the city's zone and no name in it, so
      // nothing else is probed or crawled.
      const resolver = startResolver(15355, { zones: ['ville-test.fr'] });
      const audit = async () => {
        const out = join(tempDir(), 'rapport');
        const env = { ...process.env, SOCLE_LIMESURVEY_ADMIN_PASSWORD: await envOf(APP, 'ADMIN_PASSWORD') };
        await $({ quiet: true, nothrow: true, env })`${TSX} ${join(ROOT, 'scripts/audit.ts')} --config ${city.city.config} --out ${out} --live --dns ${resolver.address} --surveys`;
        return JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).checks.find((c: { id: string }) => c.id === 'AUD-LIVE-SURVEYS');
      };
      try {
        const ok = await audit();
        expect(ok.status, ok.evidence.join('\n')).toBe('pass');
        expect(ok.evidence).toHaveLength(2);
        expect(ok.evidence).toEqual(expect.arrayContaining([
          expect.stringMatching(new RegExp(`^enquête ${CONSULTATION} « Rythmes scolaires » : anonymized Y, .*allowregister N, end date \\S+ \\S+, participant table present, 40 code\\(s\\), participant names and e-mail none$`)),
          expect.stringMatching(new RegExp(`^enquête ${SURVEY} « Consultation test » : .*participant table present, 1 code\\(s\\)`)),
        ]));
        expect(await rc('set_survey_properties', SURVEY, { allowregister: 'Y' })).toMatchObject({ allowregister: true });
        const open = await audit();
        expect(open.status).toBe('fail');
        expect(open.evidence).toEqual([expect.stringMatching(new RegExp(`^ÉCHEC : enquête ${SURVEY} « Consultation test » : allowregister = Y, attendu N ; correction : registration hands a code to anyone who asks`))]);
      } finally {
        await rc('set_survey_properties', SURVEY, { allowregister: 'N' });
        resolver.stop();
      }
    }, 240_000);

    it('upgrades only after a backup, refuses when the backup fails, and undoes an upgrade that fails', async () => {
      // New versions, made from the image the city runs, each with one more database migration
      // that LimeSurvey's own updatedb runs: 613 adds a table; 614 drops a table, then fails.
      const running = imageReference('limesurvey', TEST_REGISTRY, {});
      const refOf = (tag: string) => `${TEST_REGISTRY.host}/${TEST_REGISTRY.namespace}/limesurvey:${tag}`;
      const derive = async (tag: string, from: string, version: number, up: string) => {
        const php = `<?php\nnamespace LimeSurvey\\Helpers\\Update;\nclass Update_${version} extends DatabaseUpdateBase\n{\n    public function up()\n    {\n        ${up}\n    }\n}\n`;
        const dockerfile = [`FROM ${from}`, 'USER root',
          `RUN echo ${Buffer.from(php).toString('base64')} | base64 -d > application/helpers/update/updates/Update_${version}.php \\`,
          ` && sed -i "s/'dbversionnumber'\\] = ${version - 1};/'dbversionnumber'] = ${version};/" application/config/version.php \\`,
          ` && grep -q "'dbversionnumber'\\] = ${version};" application/config/version.php`, 'USER www-data', ''].join('\n');
        await $({ quiet: true, input: dockerfile })`docker build --quiet --tag ${refOf(tag)} -`;
        await q`docker push --quiet ${refOf(tag)}`;
      };
      await derive('6.2.1-next', running, 613, "$this->db->createCommand()->createTable('{{socle_test_migrated}}', ['id' => 'pk']);");
      await derive('6.2.1-broken', refOf('6.2.1-next'), 614, "$this->db->createCommand()->dropTable('{{tokens_100001}}'); throw new \\Exception('socle test: this migration fails after dropping a table');");
      const base = readFileSync(city.city.config, 'utf8');
      const deployTag = (tag: string) => {
        writeFileSync(city.city.config, `${base}images:\n  limesurvey: { tag: "${tag}" }\n`);
        return city.deploy(['--apply']);
      };
      const imageId = async () => (await q`docker inspect --format {{.Image}} ${APP}`).stdout.trim();
      const answers = () => sql(`SELECT COUNT(*) FROM lime_survey_${CONSULTATION}`);
      const snapshots = async () => JSON.parse((await q`docker exec ${RUNNER} socle-backup snapshots --json`).stdout.trim().split('\n')[0]).snapshots.length as number;

      // The new image migrates the database, after a backup the deploy took first.
      const before = await snapshots();
      const up = await deployTag('6.2.1-next');
      expect(up.exitCode, up.stdout + up.stderr).toBe(0);
      expect(up.stdout).toMatch(/upgrade of limesurvey: .*limesurvey:6\.2\.1 -> .*limesurvey:6\.2\.1-next; backing up serveur-enquete first/);
      expect(up.stdout).toMatch(/backup [0-9a-f]{8} on store taken; ville-enquete-limesurvey-app may now migrate/);
      expect(up.stdout).toMatch(/ville-enquete-limesurvey-app is healthy on .*6\.2\.1-next/);
      expect(await snapshots()).toBe(before + 1);
      expect((await q`docker logs ${APP}`).stderr).toMatch(/upgrading the database from version 612 to 613 \(backup [0-9a-f]+ taken by the deploy first\)\n(.|\n)*upgraded to database version 613/);
      expect(await sql("SELECT stg_value FROM lime_settings_global WHERE stg_name = 'DBVersion'")).toBe('613');
      expect(await sql("SHOW TABLES LIKE 'lime_socle_test_migrated'")).toBe('lime_socle_test_migrated');
      expect(await sql("SELECT COUNT(*) FROM lime_settings_global WHERE stg_name = 'socle_upgrade_authorized'")).toBe('0');
      expect(await answers()).toBe('2');

      // No backup, no upgrade: with the store stopped, nothing is applied.
      const upgraded = await imageId();
      await q`docker stop ${name('backup-store-sftp')}`;
      try {
        const refused = await deployTag('6.2.1-broken');
        expect(refused.exitCode).toBe(1);
        expect(refused.stderr).toMatch(/the backup taken first FAILED \(exit \d+\), so nothing was applied and ville-enquete-limesurvey-app still runs .*6\.2\.1-next/);
        expect(await imageId()).toBe(upgraded);
      } finally {
        await q`docker start ${name('backup-store-sftp')}`;
      }
      await waitAllHealthy([name('backup-store-sftp')], 60);

      // A migration that fails half-way: the database comes back from the backup taken just before,
      // and the previous image runs again.
      const failed = await deployTag('6.2.1-broken');
      expect(failed.exitCode, failed.stdout + failed.stderr).toBe(1);
      expect(failed.stdout).toMatch(/UPGRADE FAILED: ville-enquete-limesurvey-app is /);
      expect(failed.stdout).toMatch(/restoring database limesurvey of limesurvey from backup [0-9a-f]{8}/);
      expect(failed.stderr).toMatch(/the upgrade of limesurvey to .*6\.2\.1-broken FAILED and was undone: database limesurvey restored from backup [0-9a-f]{8} taken just before it, ville-enquete-limesurvey-app runs .*6\.2\.1-next again/);
      expect(await imageId()).toBe(upgraded);
      await waitAllHealthy([APP], 240);
      expect(await sql(`SELECT COUNT(*), SUM(completed = 'Y') FROM lime_tokens_${CONSULTATION}`)).toBe('40\t2');
      expect(await sql("SELECT stg_value FROM lime_settings_global WHERE stg_name = 'DBVersion'")).toBe('613');
      expect(await answers()).toBe('2');
      // Back to the city file as it was.
      writeFileSync(city.city.config, base);
    }, 1_200_000);

    it('deletes what citizens left in a survey once it ended more than answersKeptDays ago, at start and on demand, and names the surveys whose turn is near', async () => {
      // The example consultation ended a day beyond the retention: its 2 answers, 40 codes, a file a
      // participant uploaded and the copy LimeSurvey keeps of a deactivated survey's answers go.
      await sql(`UPDATE lime_surveys SET expires = '${endIn(-ANSWERS_KEPT_DAYS - 1)}' WHERE sid = ${CONSULTATION}`);
      const copy = `lime_old_survey_${CONSULTATION}_20260101000000`;
      await sql(`CREATE TABLE ${copy} LIKE lime_survey_${CONSULTATION}; INSERT INTO ${copy} SELECT * FROM lime_survey_${CONSULTATION}`);
      const files = `/var/www/limesurvey/upload/surveys/${CONSULTATION}/files`;
      await q`docker exec ${APP} sh -c ${`mkdir -p ${files}/sub && echo piece > ${files}/fu_piece-jointe && echo x > ${files}/sub/fu_autre`}`;
      // The other survey ended within the retention: kept, and named two weeks before its turn.
      await sql(`UPDATE lime_surveys SET expires = '${endIn(-ANSWERS_KEPT_DAYS + 10)}' WHERE sid = ${SURVEY}`);
      await sql(`INSERT INTO lime_survey_${SURVEY} (submitdate, lastpage, startlanguage, seed) VALUES ('1980-01-01 00:00:00', 1, 'fr', '1')`);
      const questions = await sql(`SELECT COUNT(*) FROM lime_questions WHERE sid = ${CONSULTATION}`);

      const since = new Date().toISOString();
      await q`docker restart ${APP}`;
      await waitAllHealthy([APP], 240);
      const log = (await q`docker logs --since ${since} ${APP}`).stderr;
      expect(log).toMatch(new RegExp(`survey ${CONSULTATION} ended [0-9-]+ [0-9:]+, more than ${ANSWERS_KEPT_DAYS} days ago: deleted 4 answer\\(s\\), 40 code\\(s\\), 0 saved partial answer\\(s\\) and 2 uploaded file\\(s\\)`));
      expect(log).toMatch(new RegExp(`survey ${SURVEY} ended [0-9-]+ [0-9:]+: its 1 answer\\(s\\) will be deleted on \\d{4}-\\d{2}-\\d{2} .*npm run survey -- results --survey ${SURVEY}`));
      expect(await sql(`SELECT (SELECT COUNT(*) FROM lime_survey_${CONSULTATION}), (SELECT COUNT(*) FROM lime_tokens_${CONSULTATION})`)).toBe('0\t0');
      expect(await sql(`SHOW TABLES LIKE 'lime_old_survey_${CONSULTATION}%'`)).toBe('');
      expect((await q`docker exec ${APP} find ${files} -type f`).stdout.trim()).toBe('');
      // The survey itself stays: its questions, for the next consultation.
      expect(await sql(`SELECT COUNT(*) FROM lime_questions WHERE sid = ${CONSULTATION}`)).toBe(questions);
      expect(Number(questions)).toBeGreaterThan(0);
      expect(await sql(`SELECT COUNT(*) FROM lime_survey_${SURVEY}`)).toBe('1');

      // On demand, as the hourly round runs it: nothing left to delete, nothing said about it.
      const again = await q`docker exec ${APP} socle-limesurvey purge-ended`;
      expect(again.stderr).not.toMatch(/: deleted/);
      expect(again.stderr).toMatch(new RegExp(`survey ${SURVEY} ended .*will be deleted on`));
      // Once the other survey's day comes, it goes too.
      await sql(`UPDATE lime_surveys SET expires = '${endIn(-ANSWERS_KEPT_DAYS - 1)}' WHERE sid = ${SURVEY}`);
      expect((await q`docker exec ${APP} socle-limesurvey purge-ended`).stderr).toMatch(new RegExp(`survey ${SURVEY} ended .*: deleted 1 answer\\(s\\), 1 code\\(s\\)`));
      expect(await sql(`SELECT COUNT(*) FROM lime_survey_${SURVEY}`)).toBe('0');
    }, 400_000);
  });
}
