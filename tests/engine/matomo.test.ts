// Socle's Matomo image on the engine: built by global setup from the release archive this machine
// holds (never downloaded by the tests), deployed with the ville-audience city measuring the
// consultation app (the stand-in) behind the proxy. A citizen's visit in Chromium is counted by the
// tracker and, once the proxy's log is imported, by the logs; the stored address is masked and the
// code parameter absent; the privacy settings read back match the city file and the volume label;
// Matomo reaches nothing outside. Without an archive every test here is reported as NOT RUN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { $ } from 'zx';
import { DeployedCity, envOf, waitAllHealthy } from './deployed-city.js';
import { launchChromium } from './browser.js';
import { lookedIn, presentArchive } from './release-archives.js';
import { OUTSIDE, outsideConnections } from './test-host.js';
import { LABEL } from '../../core/labels.js';
import { evaluateMatomoPrivacy, matomoPrivacy, rawDataRetentionLabel, type MatomoReadBack } from '../../services/matomo/privacy.js';
import { ROOT, TSX } from '../helpers.js';

const q = $({ quiet: true });
const qn = $({ quiet: true, nothrow: true });
const SLUG = 'ville-audience';
const name = (s: string) => `${SLUG}-${s}`;
const APP = name('matomo-app');
const ARCHIVER = name('matomo-archiver');
const DB = name('matomo-db');
const PROXY = name('proxy-nginx');
const SITE = 'participer-audience.ville-test.fr';
const STATS = 'statistiques-audience.ville-test.fr';
const PORT = 38543;
const RETENTION_DAYS = 90;
/** A printed code, as LimeSurvey's links carry it: it must reach no table and no log. */
const CODE = 'QWRT-ZXCV-7K9M';
const archive = presentArchive('matomo');

let city: DeployedCity;

async function sql(query: string): Promise<string> {
  return (await q`docker exec --env ${`MYSQL_PWD=${await envOf(APP, 'DB_PASSWORD')}`} ${DB} mariadb -h127.0.0.1 -umatomo matomo -N -B -e ${query}`).stdout.trim();
}

function viaProxy(host: string, path: string, extra: string[] = []) {
  return qn`curl --silent --show-error --max-time 20 --cacert ${join(city.city.tls, 'ca.pem')} --resolve ${`${host}:${PORT}:127.0.0.1`} ${extra} ${`https://${host}:${PORT}${path}`}`;
}

async function readBack(): Promise<MatomoReadBack> {
  return JSON.parse((await q`docker exec ${APP} socle-matomo check`).stdout.trim().split('\n').pop()!) as MatomoReadBack;
}

/** The findings that fail, with their evidence: [] when Matomo meets every condition. */
async function failingConditions(): Promise<string[]> {
  const trackerScript = (await viaProxy(SITE, '/socle-audience.js')).stdout;
  return evaluateMatomoPrivacy(await readBack(), matomoPrivacy(RETENTION_DAYS), trackerScript).filter((f) => !f.ok).map((f) => `${f.id}: ${f.evidence}`);
}

const today = () => new Date().toISOString().slice(0, 10);

if (!archive) {
  const why = `NOT RUN — no Matomo release archive on this machine (looked in ${lookedIn('matomo')}); the image was not built`;
  console.warn(`\n*** tests/engine/matomo.test.ts: ${why} ***\n`);
  describe('Socle\'s Matomo image on the engine', () => {
    it.skip(why, () => undefined);
  });
} else {
  beforeAll(async () => {
    city = await DeployedCity.up(SLUG);
    const seconds = await waitAllHealthy(city.containers, 300);
    console.log(`Matomo ${archive.version} (${archive.file}) deployed; all healthy ${seconds.toFixed(0)} s after the apply`);
  }, 900_000);

  afterAll(async () => {
    if (process.env.SOCLE_TEST_KEEP) return;
    await city?.down();
  });

  describe('Socle\'s Matomo image on the engine', () => {
    it('is installed by code at its first start: no installer left, the generated administrator, read-only and unprivileged', async () => {
      expect((await q`docker logs ${APP}`).stderr).toMatch(/empty database: installing Matomo \d+\.\d+\.\d+ by code/);
      const login = await viaProxy(STATS, '/index.php?module=Login');
      expect(login.stdout).toContain('form_login');
      // The installer refuses: Matomo is installed.
      expect((await viaProxy(STATS, '/index.php?module=Installation&action=databaseSetup')).stdout).not.toMatch(/name="host"|form_database/i);
      // The administrator's password is the generated one: Matomo issues a token for it, and for nothing else.
      const password = await envOf(APP, 'ADMIN_PASSWORD');
      const token = async (pw: string) => (await viaProxy(STATS, '/index.php', ['--data-urlencode', 'module=API', '--data-urlencode', 'format=json',
        '--data-urlencode', 'method=UsersManager.createAppSpecificTokenAuth', '--data-urlencode', 'userLogin=admin', '--data-urlencode', `passwordConfirm=${pw}`,
        '--data-urlencode', 'description=engine test'])).stdout;
      expect(await token(password)).toMatch(/"value":"[0-9a-f]{32}"/);
      expect(await token(`${password}x`)).not.toMatch(/"value":"[0-9a-f]{32}"/);
      // The database password is passed by reference: not in Matomo's configuration file.
      const config = (await q`docker exec ${APP} cat /tmp/matomo/config.ini.php`).stdout;
      expect(config).toContain('password = ""');
      expect(config).not.toContain(await envOf(APP, 'DB_PASSWORD'));
      expect(config).toMatch(/^salt = "[0-9a-f]{32,}"$/m);
      for (const c of [APP, ARCHIVER]) {
        expect((await q`docker inspect --format {{.HostConfig.ReadonlyRootfs}} ${c}`).stdout.trim(), c).toBe('true');
        expect((await q`docker inspect --format {{.Config.User}} ${c}`).stdout.trim(), c).toBe('www-data');
      }
    });

    it('meets the CNIL conditions, applied at every start and read back equal to the city file and the volume label', async () => {
      expect(await failingConditions()).toEqual([]);
      const read = await readBack();
      expect(read.rawDataDeletion).toEqual({ enabled: true, olderThanDays: RETENTION_DAYS });
      const label = (await q`docker volume inspect --format ${`{{index .Labels "${LABEL.retention}"}}`} ${name('matomo-db-data')}`).stdout.trim();
      expect(label).toBe(rawDataRetentionLabel(matomoPrivacy(RETENTION_DAYS)));
      expect(label).toContain(`${read.rawDataDeletion.olderThanDays} days`);
      // What an administrator could change in Matomo's interface is put back at the next start.
      await sql("UPDATE matomo_option SET option_value = '999' WHERE option_name = 'delete_logs_older_than'");
      await sql("UPDATE matomo_option SET option_value = '0' WHERE option_name = 'PrivacyManager.ipAnonymizerEnabled'");
      expect((await failingConditions()).map((f) => f.split(':')[0]).sort()).toEqual(['MATOMO-IP', 'MATOMO-RETENTION']);
      await city.recreate(APP);
      await waitAllHealthy([APP], 240);
      expect(await failingConditions()).toEqual([]);
    });

    it('counts a citizen\'s visit with the tracker and again from the proxy\'s log, its address masked and its code nowhere', async () => {
      const browser = await launchChromium(`MAP *.ville-test.fr 127.0.0.1`);
      const requested: string[] = [];
      try {
        const page = await browser.newPage({ ignoreHTTPSErrors: true });
        page.on('request', (r) => requested.push(r.url()));
        const hit = page.waitForResponse((r) => r.url().includes('/socle-audience/matomo.php'), { timeout: 30_000 });
        await page.goto(`https://${SITE}:${PORT}/consultation?token=${CODE}&lang=fr`);
        expect((await hit).status()).toBeLessThan(300);
      } finally {
        await browser.close();
      }
      // First party only: every request went to the site's own origin.
      expect(requested.filter((u) => !u.startsWith(`https://${SITE}:${PORT}/`))).toEqual([]);
      const trackerHit = requested.find((u) => u.includes('/socle-audience/matomo.php'))!;
      expect(trackerHit).not.toContain(CODE);
      // A crawler's request is in the log, never counted: the importer leaves bots out.
      await viaProxy(SITE, '/consultation', ['--user-agent', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)']);

      // The tracker's visit, with the address the proxy saw, masked.
      expect(await sql('SELECT COUNT(*) FROM matomo_log_visit WHERE idsite = 1')).toBe('1');
      const trackerAddress = await sql('SELECT INET6_NTOA(location_ip) FROM matomo_log_visit WHERE idsite = 1');
      expect(trackerAddress).toMatch(/^\d+\.\d+\.0\.0$/);

      // The proxy's audience log: masked address, path without query string.
      const log = (await q`docker exec ${PROXY} cat ${`/var/log/nginx/audience-${today()}.log`}`).stdout;
      const line = log.split('\n').find((l) => l.includes('/consultation') && l.includes('HeadlessChrome'))!;
      expect(line).toMatch(/^\d+\.\d+\.0\.0 \[/);
      expect(line).toContain(`"${SITE}" "GET /consultation"`);
      expect(log).not.toContain(CODE);
      expect(log).not.toContain('socle-audience');

      const imported = await q`docker exec ${ARCHIVER} socle-matomo import-logs ${today()}`;
      expect(imported.stderr).toContain(`imported ${today()}`);
      expect(await sql('SELECT COUNT(*) FROM matomo_log_visit WHERE idsite = 2')).toBe('1');
      expect(await sql('SELECT INET6_NTOA(location_ip) FROM matomo_log_visit WHERE idsite = 2')).toBe(trackerAddress);
      // A day is imported once: running it again adds nothing.
      await q`docker exec ${ARCHIVER} socle-matomo import-logs ${today()}`;
      expect(await sql('SELECT COUNT(*) FROM matomo_log_visit WHERE idsite = 2')).toBe('1');

      // The code is in no table Matomo writes.
      const pages = await sql('SELECT name FROM matomo_log_action WHERE type = 1 ORDER BY name');
      expect(pages.split('\n')).toContain(`${SITE}:${PORT}/consultation?lang=fr`);
      const dump = (await q`docker exec --env ${`MYSQL_PWD=${await envOf(APP, 'DB_PASSWORD')}`} ${DB} mariadb-dump -h127.0.0.1 -umatomo matomo`).stdout;
      expect(dump).not.toContain(CODE);

      // The two measurements side by side, as the city's report gives them.
      const report = await $({ quiet: true, nothrow: true })`${TSX} ${join(ROOT, 'scripts/audience.ts')} report --config ${city.city.config} --from ${today()} --to ${today()} --format json`;
      expect(report.exitCode, report.stderr).toBe(0);
      const comparison = JSON.parse(report.stdout);
      expect(comparison.factor).toBe(1);
      expect(comparison.visits).toEqual([{ day: today(), page: '*', tracker: 1, logs: 1, corrected: 1 }]);
    });

    it('serves the opt-out on the legal notice, first party', async () => {
      const browser = await launchChromium(`MAP *.ville-test.fr 127.0.0.1`);
      try {
        const page = await browser.newPage({ ignoreHTTPSErrors: true });
        const requested: string[] = [];
        page.on('request', (r) => requested.push(r.url()));
        await page.goto(`https://${SITE}:${PORT}/mentions-legales`);
        await page.waitForSelector('#matomo-opt-out input[type="checkbox"]', { timeout: 20_000 });
        expect(await page.locator('#matomo-opt-out').innerText()).toMatch(/\S/);
        expect(requested.filter((u) => !u.startsWith(`https://${SITE}:${PORT}/`))).toEqual([]);
      } finally {
        await browser.close();
      }
    });

    it('reaches no third party: with a way out and matomo.org pointing at the outside host, nothing arrives there', async () => {
      // The stack gives Matomo no way out (internal networks only). To prove Matomo itself does not
      // try, the test opens one: a network with a route to the outside host, and matomo.org's
      // names resolved to it, in the app and the archiver.
      const egress = name('test-egress');
      await qn`docker network rm ${egress}`;
      await q`docker network create ${egress}`;
      const names = ['matomo.org', 'api.matomo.org', 'plugins.matomo.org', 'builds.matomo.org', 'glossary.matomo.org', 'download.db-ip.com', 'raw.githubusercontent.com'];
      try {
        for (const c of [APP, ARCHIVER]) {
          await q`docker network connect ${egress} ${c}`;
          await q`docker exec --user root ${c} sh -c ${`echo "${OUTSIDE.address} ${names.join(' ')}" >> /etc/hosts`}`;
        }
        // The way out works: a request the test makes from Matomo's container arrives.
        let seen = outsideConnections().length;
        await q`docker exec ${APP} curl --silent --max-time 5 --output /dev/null http://api.matomo.org/`.nothrow();
        expect(outsideConnections().slice(seen).map((l) => l.split(' ')[0])).toEqual(['80']);

        seen = outsideConnections().length;
        // Everything that would phone home if it could: the administrator's pages (update check,
        // news, marketplace), Matomo's scheduled tasks (GeoIP, marketplace, updates), archiving,
        // and its own diagnostics (which test the internet connection when the feature is on).
        const jar = '/tmp/engine-test-cookies';
        const form = (await q`docker exec ${APP} curl --silent -c ${jar} -b ${jar} -H ${'Host: matomo-app:8080'} http://127.0.0.1:8080/index.php?module=Login`).stdout;
        const nonce = /name="form_nonce"[^>]*value="([^"]+)"|id="login_form_nonce" value="([^"]+)"/.exec(form);
        expect(nonce, 'no login form nonce').not.toBeNull();
        await q`docker exec ${APP} curl --silent -c ${jar} -b ${jar} -H ${'Host: matomo-app:8080'} --data-urlencode form_login=admin --data-urlencode ${`form_password=${await envOf(APP, 'ADMIN_PASSWORD')}`} --data-urlencode ${`form_nonce=${nonce![1] ?? nonce![2]}`} http://127.0.0.1:8080/index.php?module=Login`;
        for (const path of ['/index.php?module=CoreHome&action=index&idSite=1&period=day&date=today', '/index.php?module=CoreAdminHome&action=home&idSite=1&period=day&date=today',
          '/index.php?module=Widgetize&action=iframe&moduleToWidgetize=RssWidget&actionToWidgetize=rssPiwik&idSite=1&period=day&date=today', '/index.php?module=Marketplace&action=overview&idSite=1&period=day&date=today']) {
          await q`docker exec ${APP} curl --silent --output /dev/null -c ${jar} -b ${jar} -H ${'Host: matomo-app:8080'} ${`http://127.0.0.1:8080${path}`}`;
        }
        await qn`docker exec ${APP} php /var/www/matomo/console core:run-scheduled-tasks --force`;
        await qn`docker exec ${APP} php /var/www/matomo/console diagnostics:run`;
        await qn`docker exec ${ARCHIVER} php /var/www/matomo/console core:archive --url=http://matomo-app:8080/`;
        expect(outsideConnections().slice(seen)).toEqual([]);
      } finally {
        for (const c of [APP, ARCHIVER]) await qn`docker network disconnect --force ${egress} ${c}`;
        await qn`docker network rm ${egress}`;
        // /etc/hosts is rewritten by Docker when the container is recreated.
        await city.recreate(APP);
        await city.recreate(ARCHIVER);
        await waitAllHealthy([APP, ARCHIVER], 240);
      }
    });
  });
}
