// Socle's Matomo image on the engine: built by global setup from the release archive this machine
// holds (never downloaded by the tests), deployed with the ville-audience city measuring the
// consultation app (the stand-in) behind the proxy. A citizen's visit in Chromium is counted by the
// tracker and, once the proxy's log is imported, by the logs; the stored address is masked and the
// code parameter absent; the privacy settings read back match the city file and the volume label;
// Matomo calls nothing outside even when given a way to. Without an archive every test here is reported as NOT RUN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { DeployedCity, envOf, waitAllHealthy } from './deployed-city.js';
import { gotoSteadily, launchChromium } from './browser.js';
import { COOKIES_NOTICE_PATH } from '../../services/reverse-proxy/cookies-notice.js';
import { lookedIn, presentArchive } from './release-archives.js';
import { TEST_REGISTRY } from './global-setup.js';
import { clearMailbox, relayedMessageProblems, waitForMessages } from './mta.js';
import { imageReference } from '../../services/common/images.js';
import { LABEL } from '../../core/labels.js';
import { evaluateMatomoPrivacy, matomoPrivacy, rawDataRetentionLabel, type MatomoReadBack } from '../../services/matomo/privacy.js';
import { ROOT, TSX, tempDir } from '../helpers.js';

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

const viaProxy = (host: string, path: string, extra: string[] = []) => city.viaProxy(host, PORT, path, extra);

async function readBack(): Promise<MatomoReadBack> {
  return JSON.parse((await q`docker exec ${APP} socle-matomo check`).stdout) as MatomoReadBack;
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
      const installer = (await viaProxy(STATS, '/index.php?module=Installation&action=databaseSetup')).stdout;
      expect(installer).toContain('Matomo is already installed');
      expect(installer).not.toMatch(/name="host"|form_database/i);
      // The administrator's password is the generated one: Matomo issues a token for it, and for nothing else.
      const password = await envOf(APP, 'ADMIN_PASSWORD');
      const token = async (pw: string) => (await viaProxy(STATS, '/index.php', ['--data-urlencode', 'module=API', '--data-urlencode', 'format=json',
        '--data-urlencode', 'method=UsersManager.createAppSpecificTokenAuth', '--data-urlencode', 'userLogin=admin', '--data-urlencode', `passwordConfirmation=${pw}`,
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

    it('sends its mail through the gateway to the city\'s relay: a real message, TLS checked against the city CA, signed, from the city', async () => {
      // Matomo's own test message (core:test-email), with the settings Socle rendered in
      // config.ini.php, run as an administrator is told to (Matomo's console as the public host).
      const mailbox = 'statistiques-test@ville-test.fr';
      await clearMailbox(mailbox);
      const r = await qn`docker exec ${APP} socle-matomo console core:test-email ${mailbox}`;
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const [raw] = await waitForMessages(mailbox, 1, 60_000);
      expect(await relayedMessageProblems(raw, 'ville-test.fr')).toEqual([]);
      expect(await envOf(APP, 'SSL_CERT_FILE')).toBe('/etc/socle/mail/relay-ca.pem');
      await clearMailbox(mailbox);
    }, 180_000);

    it('meets the CNIL conditions, applied at every start and read back equal to the city file and the volume label', async () => {
      expect(await failingConditions()).toEqual([]);
      const read = await readBack();
      expect(read.rawDataDeletion).toEqual({ enabled: true, olderThanDays: RETENTION_DAYS });
      const label = (await q`docker volume inspect --format ${`{{index .Labels "${LABEL.retention}"}}`} ${name('matomo-mariadb')}`).stdout.trim();
      expect(label).toBe(rawDataRetentionLabel(matomoPrivacy(RETENTION_DAYS)));
      expect(label).toContain(`${read.rawDataDeletion.olderThanDays} jours`);
      // What an administrator could change in Matomo's interface is put back at the next start.
      await sql("UPDATE matomo_option SET option_value = '999' WHERE option_name = 'delete_logs_older_than'");
      await sql("UPDATE matomo_option SET option_value = '0' WHERE option_name = 'PrivacyManager.ipAnonymizerEnabled'");
      expect((await failingConditions()).map((f) => f.split(':')[0]).sort()).toEqual(['MATOMO-IP', 'MATOMO-RETENTION']);
      await city.recreate(APP);
      await waitAllHealthy([APP], 240);
      expect(await failingConditions()).toEqual([]);
    }, 420_000);

    it('counts a citizen\'s visit with the tracker and again from the proxy\'s log, its address masked and its code nowhere', async () => {
      const browser = await launchChromium(`MAP *.ville-test.fr 127.0.0.1`);
      const requested: string[] = [];
      try {
        const page = await browser.newPage({ ignoreHTTPSErrors: true });
        page.on('request', (r) => requested.push(r.url()));
        const hit = page.waitForResponse((r) => r.url().includes('/socle-audience/matomo.php'), { timeout: 30_000 });
        // Awaited below; when the navigation fails first, its rejection is that failure's echo, not another.
        hit.catch(() => undefined);
        await gotoSteadily(page, `https://${SITE}:${PORT}/consultation?token=${CODE}&lang=fr`);
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

    it('serves the opt-out on the legal notice, first party: a refusal stops both measurements, as Do Not Track does', async () => {
      const browser = await launchChromium(`MAP *.ville-test.fr 127.0.0.1`);
      try {
        const page = await browser.newPage({ ignoreHTTPSErrors: true });
        const requested: string[] = [];
        page.on('request', (r) => requested.push(r.url()));
        await gotoSteadily(page, `https://${SITE}:${PORT}/mentions-legales`);
        await page.waitForSelector('#socle-opt-out input[type="checkbox"]', { timeout: 20_000 });
        expect(await page.locator('#socle-opt-out').innerText()).toContain('Vos visites sur ce site sont mesurées');
        // Opting out: the refusal is remembered (13 months), and the next page sends no hit.
        await page.locator('#socle-opt-out input[type="checkbox"]').uncheck();
        expect(await page.locator('#socle-opt-out').innerText()).toContain('Vos visites sur ce site ne sont pas mesurées');
        const cookie = (await page.context().cookies()).find((c) => c.name === 'mtm_consent_removed')!;
        expect((cookie.expires * 1000 - Date.now()) / 86_400_000).toBeCloseTo(395, 0);
        expect((await page.context().cookies()).map((c) => c.name)).toEqual(['mtm_consent_removed']);
        // The one cookie, as the served cookies notice tells citizens.
        const notice = (await viaProxy(SITE, COOKIES_NOTICE_PATH)).stdout;
        expect(notice).toContain(`<tr data-cookie="mtm_consent_removed" data-host="${SITE}">`);
        expect(notice).toContain('<td>395 jours (13 mois)</td>');
        const hits: string[] = [];
        page.on('request', (r) => { if (r.url().includes('/socle-audience/matomo.php')) hits.push(r.url()); });
        await gotoSteadily(page, `https://${SITE}:${PORT}/apres-opposition`);
        await page.waitForLoadState('networkidle');
        expect(hits).toEqual([]);
        // The logs' measurement honours the same refusal, and Do Not Track.
        await viaProxy(SITE, '/avec-dnt', ['--header', 'DNT: 1', '--user-agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0']);
        await viaProxy(SITE, '/sans-dnt', ['--user-agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0']);
        const log = (await q`docker exec ${PROXY} cat ${`/var/log/nginx/audience-${today()}.log`}`).stdout;
        expect(log).toContain('"GET /sans-dnt"');
        expect(log).not.toContain('/avec-dnt');
        expect(log).not.toContain('/apres-opposition');
        expect(requested.filter((u) => !u.startsWith(`https://${SITE}:${PORT}/`))).toEqual([]);
      } finally {
        await browser.close();
      }
    });

    it('reaches no third party: given a way to matomo.org, nothing arrives there', async () => {
      // The stack gives Matomo no way out (internal networks only). To show that Matomo itself does
      // not try, the test gives it one: a network of its own (internal too) where the names
      // Matomo would call answer from a listener container that writes down every connection.
      const net = name('test-matomo-org');
      const listener = name('test-matomo-org-listener');
      const names = ['matomo.org', 'api.matomo.org', 'plugins.matomo.org', 'builds.matomo.org', 'glossary.matomo.org', 'piwik.org', 'api.piwik.org', 'download.db-ip.com'];
      const listen = [
        'import asyncio',
        'async def main():',
        '    async def serve(port):',
        '        async def seen(r, w):',
        '            print(port, w.get_extra_info("peername")[0], flush=True); w.close()',
        '        await asyncio.start_server(seen, "0.0.0.0", port)',
        '    for p in (80, 443): await serve(p)',
        '    print("listening", flush=True)',
        '    await asyncio.Event().wait()',
        'asyncio.run(main())',
      ].join('\n');
      const connections = async () => (await q`docker logs ${listener}`).stdout.split('\n').filter((l) => /^\d+ /.test(l));
      await qn`docker rm --force ${listener}`;
      await qn`docker network rm ${net}`;
      await q`docker network create --internal ${net}`;
      try {
        const image = (await q`docker inspect --format {{.Config.Image}} ${APP}`).stdout.trim();
        await q`docker run --detach --name ${listener} --network ${net} ${names.flatMap((n) => ['--network-alias', n])} --user root --entrypoint python3 ${image} -u -c ${listen}`;
        for (let i = 0; i < 20 && !(await q`docker logs ${listener}`).stdout.includes('listening'); i++) await new Promise((r) => setTimeout(r, 250));
        for (const c of [APP, ARCHIVER]) await q`docker network connect ${net} ${c}`;
        // The way works: a request the test makes from Matomo's container arrives.
        await qn`docker exec ${APP} curl --silent --max-time 5 --output /dev/null https://api.matomo.org/`;
        expect(await connections()).toHaveLength(1);

        // Everything that would call matomo.org if it could: the administrator's pages (update
        // check, news, marketplace), Matomo's scheduled tasks, archiving, and its diagnostics
        // (which test the internet connection when the feature is on).
        const jar = join(tempDir(), 'cookies');
        const signedIn = (path: string, extra: string[] = []) => viaProxy(STATS, path, ['-c', jar, '-b', jar, ...extra]);
        const form = (await signedIn('/index.php?module=Login')).stdout;
        const nonce = /name="form_nonce"[^>]*value="([^"]+)"/.exec(form);
        expect(nonce, 'no nonce in the login form').not.toBeNull();
        await signedIn('/index.php?module=Login', ['--data-urlencode', 'form_login=admin', '--data-urlencode', `form_password=${await envOf(APP, 'ADMIN_PASSWORD')}`, '--data-urlencode', `form_nonce=${nonce![1]}`]);
        expect((await signedIn('/index.php?module=CoreHome&action=index&idSite=1&period=day&date=today')).stdout, 'the administrator did not sign in').not.toContain('form_login');
        for (const page of ['module=CoreAdminHome&action=home', 'module=Marketplace&action=overview', 'module=CorePluginsAdmin&action=plugins', 'module=Widgetize&action=iframe&moduleToWidgetize=RssWidget&actionToWidgetize=rssPiwik', 'module=CoreUpdater&action=newVersionAvailable']) {
          await signedIn(`/index.php?${page}&idSite=1&period=day&date=today`, ['--output', '/dev/null']);
        }
        await q`docker exec ${APP} php /var/www/matomo/console core:run-scheduled-tasks --force`;
        await qn`docker exec ${APP} php /var/www/matomo/console diagnostics:run`;
        await q`docker exec ${ARCHIVER} php /var/www/matomo/console core:archive --url=http://matomo-app:8080/`;
        expect(await connections()).toHaveLength(1);
      } finally {
        for (const c of [APP, ARCHIVER]) await qn`docker network disconnect --force ${net} ${c}`;
        await qn`docker rm --force ${listener}`;
        await qn`docker network rm ${net}`;
      }
    }, 300_000);

    it('upgrades with core:update only after the deploy took a backup, and undoes an upgrade that fails', async () => {
      // A new version, made from the image the city runs: 5.0.3 with one more core update that
      // Matomo's own core:update runs (it adds a table); then 5.0.4, whose update fails half-way.
      const running = imageReference('matomo', TEST_REGISTRY, {});
      const refOf = (tag: string) => `${TEST_REGISTRY.host}/${TEST_REGISTRY.namespace}/matomo:${tag}`;
      const derive = async (tag: string, from: string, version: string, doUpdate: string) => {
        const cls = `Updates_${version.replace(/\./g, '_')}`;
        const php = `<?php\nnamespace Piwik\\Updates;\nuse Piwik\\Common;\nuse Piwik\\Db;\nuse Piwik\\Updater;\nclass ${cls} extends \\Piwik\\Updates\n{\n    public function doUpdate(Updater $updater)\n    {\n        ${doUpdate}\n    }\n}\n`;
        const dockerfile = [`FROM ${from}`, 'USER root',
          `RUN echo ${Buffer.from(php).toString('base64')} | base64 -d > core/Updates/${version}.php \\`,
          ` && sed -i "s/const VERSION = '[^']*';/const VERSION = '${version}';/" core/Version.php \\`,
          ` && grep -q "const VERSION = '${version}';" core/Version.php`, 'USER www-data', ''].join('\n');
        await $({ quiet: true, input: dockerfile })`docker build --quiet --tag ${refOf(tag)} -`;
        await q`docker push --quiet ${refOf(tag)}`;
      };
      await derive('5.0.3-test', running, '5.0.3', "Db::exec('CREATE TABLE ' . Common::prefixTable('socle_test_migrated') . ' (id INT)');");
      const base = readFileSync(city.city.config, 'utf8');
      const deployTag = (tag: string) => {
        writeFileSync(city.city.config, base.replace(/^images:\n/m, '').concat(`images:\n  matomo: { tag: "${tag}" }\n`));
        return city.deploy(['--apply']);
      };
      const visits = () => sql('SELECT COUNT(*) FROM matomo_log_visit');
      const visitsBefore = await visits();
      // The backup refuses an empty database (the stand-in consultation app creates none): a table.
      await q`docker exec ${name('consultation-db')} psql -U postgres -d consultation -Atq -v ON_ERROR_STOP=1 -c ${'SET ROLE consultation'} -c ${'CREATE TABLE IF NOT EXISTS proposals (id serial PRIMARY KEY)'}`;
      try {
        const up = await deployTag('5.0.3-test');
        expect(up.exitCode, up.stdout + up.stderr).toBe(0);
        expect(up.stdout).toMatch(/upgrade of matomo: .*matomo:5\.0\.2 -> .*matomo:5\.0\.3-test; backing up serveur-audience first/);
        expect(up.stdout).toMatch(/backup [0-9a-f]{8} on store taken; ville-audience-matomo-app may now migrate/);
        expect((await q`docker logs ${APP}`).stderr).toMatch(/upgrading the database from Matomo 5\.0\.2 to 5\.0\.3 \(backup [0-9a-f]+ taken by the deploy first\)(.|\n)*upgraded to Matomo 5\.0\.3/);
        expect(await sql("SELECT option_value FROM matomo_option WHERE option_name = 'version_core'")).toBe('5.0.3');
        expect(await sql("SHOW TABLES LIKE 'matomo_socle_test_migrated'")).toBe('matomo_socle_test_migrated');
        expect(await visits()).toBe(visitsBefore);

        // An update that drops a table, then throws: Matomo's core:update calls that a warning,
        // records 5.0.4 and exits 0. Socle fails the upgrade on it, the database comes back from
        // the backup taken just before, and the previous image runs again.
        await derive('5.0.4-broken', refOf('5.0.3-test'), '5.0.4',
          "Db::exec('DROP TABLE ' . Common::prefixTable('socle_test_migrated')); throw new \\Exception('socle test: this update fails after dropping a table');");
        const upgraded = (await q`docker inspect --format {{.Image}} ${APP}`).stdout.trim();
        const failed = await deployTag('5.0.4-broken');
        expect(failed.exitCode, failed.stdout + failed.stderr).toBe(1);
        expect(failed.stdout).toMatch(/UPGRADE FAILED: ville-audience-matomo-app is /);
        expect(failed.stderr).toMatch(/the upgrade of matomo to .*5\.0\.4-broken FAILED and was undone: database matomo restored from backup [0-9a-f]{8} taken just before it, ville-audience-matomo-app runs .*5\.0\.3-test again/);
        expect((await q`docker inspect --format {{.Image}} ${APP}`).stdout.trim()).toBe(upgraded);
        await waitAllHealthy([APP], 240);
        expect(await sql("SELECT option_value FROM matomo_option WHERE option_name = 'version_core'")).toBe('5.0.3');
        expect(await sql("SHOW TABLES LIKE 'matomo_socle_test_migrated'")).toBe('matomo_socle_test_migrated');
        expect(await visits()).toBe(visitsBefore);
      } finally {
        writeFileSync(city.city.config, base);
      }
    }, 1_200_000);
  });
}
