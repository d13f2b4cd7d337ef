// Audience benchmark, on Socle's Matomo image (needs a release archive on this machine, as the
// engine tests do): the ville-audience test city deployed with OpenTofu over SSH, then
//   - tracker hits per second through the proxy (TLS, the site's own origin) with C browsers at
//     once, against a baseline: the same Matomo container reached directly (no proxy, no TLS);
//   - the nightly log import: N generated lines of the proxy's audience log (masked addresses,
//     browsers, 200 pages, spread over one day) imported with `socle-matomo import-logs`, in
//     lines per second, as a ratio to the tracker's hits per second;
//   - archiving that day's reports (core:archive), in seconds.
// It reports; it does not test: exit status 0 whatever the figures, 1 when nothing could be
// measured (no archive), 2 on bad flags.
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { StepError } from '../core/errors.js';
import { UsageError, runCommand } from '../core/cli.js';
import { DeployedCity, waitAllHealthy } from '../tests/engine/deployed-city.js';
import { lookedIn, presentArchive } from '../tests/engine/release-archives.js';
import setup from '../tests/engine/global-setup.js';

const USAGE = `usage: npm run bench:audience [-- --lines N] [--seconds N] [--concurrency N]
  --lines N         audience-log lines generated and imported (default 100000; the audit's
                    target figure is 1000000, about a month of a large town's visits)
  --seconds N       how long each tracker load run lasts (default 30)
  --concurrency N   browsers sending hits at once (default 8)
  -h, --help        this help
Needs a Docker engine and a Matomo release archive (${lookedIn('matomo')}).
Exit status: 0, 1 when nothing could be measured, 2 on bad flags.`;

const SLUG = 'ville-audience';
const APP = `${SLUG}-matomo-app`;
const ARCHIVER = `${SLUG}-matomo-archiver`;
const PROXY = `${SLUG}-proxy-nginx`;
const SITE = 'participer-audience.ville-test.fr';
const PORT = 38543;

const q = $({ quiet: true });
const say = (l: string) => process.stderr.write(`${l}\n`);

interface Target { readonly label: string; readonly hit: (n: number) => Promise<number> }

function target(label: string, o: { tls: boolean; address: string; port: number; path: string; ca?: string }): Target {
  const agent = o.tls ? new HttpsAgent({ keepAlive: true, ca: o.ca, servername: SITE }) : new HttpAgent({ keepAlive: true });
  const request = o.tls ? httpsRequest : httpRequest;
  return {
    label,
    hit: (n) => new Promise((resolve, reject) => {
      const url = encodeURIComponent(`https://${SITE}/page-${n % 200}`);
      const req = request({
        host: o.address, port: o.port, agent, method: 'GET',
        path: `${o.path}?idsite=1&rec=1&send_image=0&url=${url}&action_name=Page&_id=${(n % 5000).toString(16).padStart(16, '0')}&rand=${n}`,
        headers: { Host: SITE, 'User-Agent': BROWSERS[n % BROWSERS.length], 'Accept-Language': 'fr-FR' },
      }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
      req.on('error', reject);
      req.end();
    }),
  };
}

async function load(t: Target, seconds: number, concurrency: number): Promise<{ hits: number; errors: number; seconds: number }> {
  let hits = 0;
  let errors = 0;
  let n = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const status = await t.hit(n++).catch(() => 0);
      if (status >= 200 && status < 300) hits++; else errors++;
    }
  }));
  return { hits, errors, seconds: (performance.now() - started) / 1000 };
}

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `lines` of the proxy's audience log for `day`, in the proxy's format (services/reverse-proxy). */
function audienceLog(day: string, lines: number): string {
  const [y, m, d] = day.split('-').map(Number);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const second = Math.floor((i / lines) * 86_400);
    const time = `${String(d).padStart(2, '0')}/${MONTHS[m - 1]}/${y}:${String(Math.floor(second / 3600)).padStart(2, '0')}:${String(Math.floor(second / 60) % 60).padStart(2, '0')}:${String(second % 60).padStart(2, '0')} +0000`;
    // A visitor makes a few page views: address and browser kept for runs of 4 lines.
    const visitor = Math.floor(i / 4);
    out.push(`${10 + (visitor % 200)}.${(visitor >> 8) % 256}.0.0 [${time}] "${SITE}" "GET /page-${(i * 7) % 200}" 200 5120 "${BROWSERS[visitor % BROWSERS.length]}"`);
  }
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  let values: { lines?: string; seconds?: string; concurrency?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { lines: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  const number = (flag: 'lines' | 'seconds' | 'concurrency', fallback: number) => {
    const n = Number(values[flag] ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} expects a whole number above 0, got ${values[flag]}`);
    return n;
  };
  const lines = number('lines', 100_000);
  const seconds = number('seconds', 30);
  const concurrency = number('concurrency', 8);
  const archive = presentArchive('matomo');
  if (!archive) throw new StepError(`nothing measured: no Matomo release archive on this machine (looked in ${lookedIn('matomo')})`);

  await setup();
  const city = await DeployedCity.up(SLUG);
  try {
    await waitAllHealthy(city.containers, 600);
    const ca = readFileSync(join(city.city.tls, 'ca.pem'), 'utf8');
    const appAddress = (await q`docker inspect --format ${'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}'} ${APP}`).stdout.trim().split(' ')[0];
    const direct = target('Matomo directly (baseline: no proxy, no TLS)', { tls: false, address: appAddress, port: 8080, path: '/matomo.php' });
    const proxied = target('through the proxy (TLS, the site\'s origin)', { tls: true, address: '127.0.0.1', port: PORT, path: '/socle-audience/matomo.php', ca });
    const runs: Array<{ t: Target; r: Awaited<ReturnType<typeof load>> }> = [];
    for (const t of [direct, proxied]) {
      say(`tracker: ${concurrency} browsers for ${seconds} s, ${t.label}`);
      runs.push({ t, r: await load(t, seconds, concurrency) });
    }

    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    say(`log import: generating ${lines.toLocaleString('en')} lines for ${day}`);
    const log = audienceLog(day, lines);
    await $({ quiet: true, input: log })`docker exec -i ${PROXY} sh -c ${`cat > /var/log/nginx/audience-${day}.log`}`;
    say('log import: socle-matomo import-logs (Matomo\'s import_logs.py)…');
    const i0 = performance.now();
    await q`docker exec ${ARCHIVER} socle-matomo import-logs ${day}`;
    const importS = (performance.now() - i0) / 1000;
    say('archiving: core:archive…');
    const a0 = performance.now();
    await q`docker exec ${ARCHIVER} php /var/www/matomo/console core:archive --url=http://matomo-app:8080/ --force-date-range=${`${day},${day}`}`;
    const archiveS = (performance.now() - a0) / 1000;

    console.log(`Matomo ${archive.version}, 2 cores, ${city.containers.length} containers`);
    console.log(`\ntracker hits, ${concurrency} browsers at once for ${seconds} s`);
    console.log(`${'where'.padEnd(48)}${'hits/s'.padStart(9)}${'errors'.padStart(8)}`);
    for (const { t, r } of runs) console.log(`${t.label.padEnd(48)}${(r.hits / r.seconds).toFixed(1).padStart(9)}${String(r.errors).padStart(8)}`);
    const [base, via] = runs.map(({ r }) => r.hits / r.seconds);
    console.log(`through the proxy: ${(via / base).toFixed(2)} × the direct rate`);
    const importRate = lines / importS;
    console.log(`\nlog import of ${lines.toLocaleString('en')} lines: ${importS.toFixed(1)} s (${importRate.toFixed(0)} lines/s, ${(importRate / via).toFixed(1)} × the tracker's rate through the proxy; 1,000,000 lines ≈ ${(1_000_000 / importRate / 60).toFixed(0)} min)`);
    console.log(`archiving the day's reports: ${archiveS.toFixed(1)} s`);
  } finally {
    await city.down();
  }
}

void runCommand(main, USAGE);
