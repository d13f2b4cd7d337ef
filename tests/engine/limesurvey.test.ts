// Socle's LimeSurvey image on the engine: built by global setup from the release archive this
// machine holds (never downloaded by the tests), deployed with the ville-enquete city behind the
// proxy. Without an archive every test here is reported as NOT RUN, never as passed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { $ } from 'zx';
import { DeployedCity, envOf, waitAllHealthy } from './deployed-city.js';
import { lookedIn, presentArchive } from './release-archives.js';
import { TEST_REGISTRY } from './global-setup.js';
import { imageReference } from '../../services/common/images.js';
import { formatCode, generateCodes } from '../../invitations/codes.js';
import { ROOT, TSX, tempDir } from '../helpers.js';

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
const archive = presentArchive('limesurvey');

let city: DeployedCity;

/** A RemoteControl call from inside the app container (the endpoint is for the stack's own network). */
async function rc(method: string, ...params: unknown[]): Promise<any> {
  const call = async (m: string, p: unknown[]) => {
    const r = await $({ quiet: true, input: JSON.stringify({ method: m, params: p, id: 1 }) })`docker exec -i ${APP} curl --silent --fail -X POST -H ${'Content-Type: application/json'} --data-binary @- http://127.0.0.1:8080/index.php/admin/remotecontrol`;
    return JSON.parse(r.stdout).result;
  };
  const key = await call('get_session_key', ['admin', await envOf(APP, 'ADMIN_PASSWORD')]);
  if (typeof key !== 'string') throw new Error(`get_session_key: ${JSON.stringify(key)}`);
  return call(method, [key, ...params]);
}

async function sql(query: string): Promise<string> {
  return (await q`docker exec --env ${`MYSQL_PWD=${await envOf(APP, 'DB_PASSWORD')}`} ${DB} mariadb -h127.0.0.1 -ulimesurvey limesurvey -N -B -e ${query}`).stdout.trim();
}

/** curl through the proxy, as a browser on this machine would reach the city's name. */
function viaProxy(path: string, extra: string[] = []) {
  return qn`curl --silent --show-error --max-time 20 --cacert ${join(city.city.tls, 'ca.pem')} --resolve ${`${HOST}:${PORT}:127.0.0.1`} ${extra} ${`https://${HOST}:${PORT}${path}`}`;
}

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

    it('accepts a printed code as the citizen types it, through the proxy, and counts wrong codes by the citizen\'s own address', async () => {
      const [code] = generateCodes(1, 12);
      expect(await rc('set_survey_properties', SURVEY, { anonymized: 'Y', ipaddr: 'N', ipanonymize: 'Y', refurl: 'N', savetimings: 'N', datestamp: 'N', allowsave: 'N', listpublic: 'N', allowregister: 'N' })).toMatchObject({ anonymized: true });
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
      // The proxy logged the request as it saw it: the same address, and never a code or a query
      // string, even when the code comes in the address.
      await viaProxy(`/${SURVEY}?token=${code}&lang=fr`, ['--output', '/dev/null']);
      await viaProxy(`/survey/index/sid/${SURVEY}/token/${code}`, ['--output', '/dev/null']);
      const log = (await q`docker exec ${PROXY} sh -c ${'cat /var/log/nginx/access-*.log'}`).stdout;
      expect(log).toContain(`${recorded} [`);
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
        expect(logs).toMatch(new RegExp(`the database is at version 1, this image's LimeSurvey needs ${version}: an upgrade migrates the answers, so it is not done at start; take a backup`));
        expect(await sql("SELECT COUNT(*) FROM lime_surveys WHERE sid = 444444")).toBe('1');
      } finally {
        await sql(`UPDATE lime_settings_global SET stg_value = '${version}' WHERE stg_name = 'DBVersion'`);
      }
      await q`docker restart ${APP}`;
      await waitAllHealthy([APP], 240);
    }, 400_000);
  });
}
