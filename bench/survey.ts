// Survey benchmark, on Socle's LimeSurvey image (needs a release archive on this machine, as the
// engine tests do): the LimeSurvey test city deployed with OpenTofu over SSH, then
//   - time from the apply to the example consultation answering through the proxy;
//   - npm run survey -- import-codes of N codes (target: 84,000 in under 60 s);
//   - completed answers per second through the proxy (TLS, masked logs) with C citizens at once
//     on loopback, and request latency p50/p95 (targets: at least 10 answers/s, p95 under 1 s),
//     against a baseline: the same LimeSurvey container reached directly (no proxy, no TLS).
// It reports; it does not test: exit status 0 whatever the figures, 1 when nothing could be
// measured (no archive), 2 on bad flags.
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { StepError } from '../core/errors.js';
import { UsageError, runCommand } from '../core/cli.js';
import { generateCodes, formatCode } from '../invitations/codes.js';
import { participantsCsv } from '../invitations/outputs.js';
import { DeployedCity, envOf, remoteControl, waitAllHealthy } from '../tests/engine/deployed-city.js';
import { lookedIn, presentArchive } from '../tests/engine/release-archives.js';
import setup from '../tests/engine/global-setup.js';
import { ROOT, TSX, tempDir } from '../tests/helpers.js';

const USAGE = `usage: npm run bench:survey [-- --codes N] [--seconds N] [--concurrency N]
  --codes N         codes loaded by import-codes (default 84000); the load uses them
  --seconds N       how long each load run lasts (default 60)
  --concurrency N   citizens answering at once (default 8)
  -h, --help        this help
Needs a Docker engine and a LimeSurvey release archive (${lookedIn('limesurvey')}).
Exit status: 0, 1 when nothing could be measured, 2 on bad flags.`;

const SLUG = 'ville-enquete';
const APP = `${SLUG}-limesurvey-app`;
const HOST = 'enquetes-reelles.ville-test.fr';
const PORT = 38443;
const SURVEY = 100001;
const IMPORT_TARGET_S = 60;
const RATE_TARGET = 10;
const P95_TARGET_MS = 1000;

const q = $({ quiet: true });
const say = (l: string) => process.stderr.write(`${l}\n`);

/** One HTTP exchange as LimeSurvey's pages need it: cookies kept per citizen. */
interface Site {
  readonly label: string;
  readonly send: (path: string, cookies: Map<string, string>, form?: URLSearchParams) => Promise<{ status: number; body: string; ms: number }>;
}

function site(label: string, origin: { tls: boolean; address: string; port: number; hostHeader: string; ca?: string }): Site {
  const agent = origin.tls ? new HttpsAgent({ keepAlive: true, ca: origin.ca, servername: origin.hostHeader }) : new HttpAgent({ keepAlive: true });
  const request = origin.tls ? httpsRequest : httpRequest;
  return {
    label,
    send: (path, cookies, form) => new Promise((resolve, reject) => {
      const started = performance.now();
      const body = form?.toString();
      const req = request({
        host: origin.address, port: origin.port, path, method: form ? 'POST' : 'GET', agent,
        headers: {
          Host: origin.hostHeader,
          Cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } : {}),
        },
      }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair] = c.split(';');
          cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - started }));
      });
      req.on('error', reject);
      req.end(body);
    }),
  };
}

/** The fields LimeSurvey's form sends: its hidden inputs, plus the button pressed. */
function formFields(html: string): URLSearchParams {
  const form = new URLSearchParams();
  const attribute = (tag: string, name: string) => new RegExp(`\\s${name}=(?:"([^"]*)"|'([^']*)')`).exec(tag)?.slice(1).find((v) => v !== undefined);
  for (const tag of html.match(/<input[^>]*>/g) ?? []) {
    const name = attribute(tag, 'name');
    if (!name || attribute(tag, 'type') !== 'hidden' || / disabled[ =>]/.test(tag)) continue;
    form.set(name, (attribute(tag, 'value') ?? '').replace(/&amp;/g, '&'));
  }
  // The page's own "next" or "submit" button (LimeSurvey's first, hidden one says "default").
  const button = /<button[^>]*id="ls-button-submit"[^>]*>/.exec(html)?.[0];
  const move = button ? attribute(button, 'value') : undefined;
  if (move) form.set('move', move);
  return form;
}

/** Where LimeSurvey's survey form posts to (its own page when it says nothing). */
function formAction(html: string, fallback: string): string {
  const form = /<form[^>]*id="limesurvey"[^>]*>/.exec(html)?.[0] ?? '';
  const action = /action="([^"]*)"/.exec(form)?.[1]?.replace(/&amp;/g, '&');
  if (!action) return fallback;
  return action.startsWith('http') ? new URL(action).pathname + new URL(action).search : action;
}

/** A failed answer, with the page it stopped on (written once to a file, for whoever reads the figures). */
class AnswerError extends Error {
  constructor(message: string, readonly page: string) {
    super(message);
  }
}

/** A citizen answers the example consultation with `code`: every request's time, or an error. */
async function answer(s: Site, code: string, choice: string): Promise<number[]> {
  const cookies = new Map<string, string>();
  const times: number[] = [];
  const step = async (path: string, form?: URLSearchParams) => {
    const r = await s.send(path, cookies, form);
    times.push(r.ms);
    if (r.status !== 200) throw new AnswerError(`${form ? 'POST' : 'GET'} ${path}: HTTP ${r.status}`, r.body);
    return r.body;
  };
  let page = await step(`/${SURVEY}?lang=fr`);
  const first = formFields(page);
  first.set('token', formatCode(code));
  first.set('lang', 'fr');
  page = await step(formAction(page, `/${SURVEY}`), first);
  for (let i = 0; i < 4 && !page.includes('votre réponse est enregistrée'); i++) {
    const form = formFields(page);
    const field = /name="(\d+X\d+X\d+)"[^>]*type="radio"|type="radio"[^>]*name="(\d+X\d+X\d+)"/.exec(page);
    if (field) form.set(field[1] ?? field[2], choice);
    page = await step(formAction(page, `/${SURVEY}`), form);
  }
  if (!page.includes('votre réponse est enregistrée')) throw new AnswerError(`code ${code}: no end page after the questions`, page);
  return times;
}

interface LoadResult { readonly answers: number; readonly errors: string[]; readonly seconds: number; readonly latencies: number[] }

let firstFailure: string | undefined;

async function load(s: Site, codes: string[], seconds: number, concurrency: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const errors: string[] = [];
  let answers = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    while (performance.now() < deadline) {
      const code = codes.pop();
      if (!code) return;
      try {
        latencies.push(...await answer(s, code, w % 2 ? 'A1' : 'A2'));
        answers++;
      } catch (err) {
        errors.push((err as Error).message);
        if (err instanceof AnswerError && !firstFailure) firstFailure = err.page;
      }
    }
  }));
  return { answers, errors, seconds: (performance.now() - started) / 1000, latencies };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
};

async function main(): Promise<void> {
  let values: { codes?: string; seconds?: string; concurrency?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { codes: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return console.log(USAGE);
  const number = (flag: 'codes' | 'seconds' | 'concurrency', fallback: number) => {
    const n = Number(values[flag] ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} expects a whole number above 0, got ${values[flag]}`);
    return n;
  };
  const codeCount = number('codes', 84_000);
  const seconds = number('seconds', 60);
  const concurrency = number('concurrency', 8);
  const archive = presentArchive('limesurvey');
  if (!archive) throw new StepError(`nothing measured: no LimeSurvey release archive on this machine (looked in ${lookedIn('limesurvey')})`);

  await setup();
  const t0 = Date.now();
  const city = await DeployedCity.up(SLUG);
  try {
    const applyS = (Date.now() - t0) / 1000;
    await waitAllHealthy(city.containers, 600);
    const healthyS = (Date.now() - t0) / 1000;
    const password = await envOf(APP, 'ADMIN_PASSWORD');
    const survey = (...args: string[]) => $({ quiet: true, env: { ...process.env, SOCLE_LIMESURVEY_ADMIN_PASSWORD: password } })`${TSX} ${join(ROOT, 'scripts/survey.ts')} ${args} --config ${city.city.config} --survey ${SURVEY}`;
    await remoteControl(APP, 'import_survey', readFileSync(join(ROOT, 'services/limesurvey/examples/rythmes-scolaires.lss')).toString('base64'), 'lss', 'Rythmes scolaires', SURVEY);

    // The consultation answering: a first batch of codes, activated, the page served by the proxy.
    const codes = generateCodes(codeCount + 100, 12);
    const participantsFile = (batch: string[]) => {
      const file = join(tempDir(), 'limesurvey-participants.csv');
      writeFileSync(file, participantsCsv(batch, {}));
      return file;
    };
    await survey('import-codes', '--participants', participantsFile(codes.slice(0, 100)));
    await survey('activate');
    const ca = readFileSync(join(city.city.tls, 'ca.pem'), 'utf8');
    const viaProxy = site('through the proxy (TLS)', { tls: true, address: '127.0.0.1', port: PORT, hostHeader: HOST, ca });
    const first = await viaProxy.send(`/${SURVEY}?lang=fr`, new Map());
    const answeringS = (Date.now() - t0) / 1000;
    if (first.status !== 200) throw new StepError(`the consultation does not answer through the proxy (HTTP ${first.status})`);

    say(`import-codes: ${codeCount} codes`);
    const bulk = participantsFile(codes.slice(100));
    const i0 = Date.now();
    await survey('import-codes', '--participants', bulk);
    const importS = (Date.now() - i0) / 1000;
    const appAddress = (await q`docker inspect --format ${'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}'} ${APP}`).stdout.trim().split(' ')[0];
    const direct = site('the container directly (no proxy, no TLS)', { tls: false, address: appAddress, port: 8080, hostHeader: HOST });
    const runs: Array<{ site: Site; result: LoadResult }> = [];
    for (const s of [direct, viaProxy]) {
      say(`load: ${concurrency} citizens for ${seconds} s, ${s.label}`);
      runs.push({ site: s, result: await load(s, codes, seconds, concurrency) });
    }

    console.log(`LimeSurvey ${archive.version}, 2 cores, ${city.containers.length} containers`);
    console.log(`apply done: ${applyS.toFixed(1)} s; all healthy: ${healthyS.toFixed(1)} s; consultation imported, 100 codes loaded, activated and answering through the proxy: ${answeringS.toFixed(1)} s after the apply started`);
    console.log(`import-codes of ${codeCount} codes: ${importS.toFixed(1)} s (${(codeCount / importS).toFixed(0)} codes/s; target ${IMPORT_TARGET_S} s for 84,000: ${importS * (84_000 / codeCount) <= IMPORT_TARGET_S ? 'ok' : 'over'})`);
    console.log(`\ncompleted answers, ${concurrency} at once for ${seconds} s`);
    console.log(`${'where'.padEnd(44)}${'answers/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'errors'.padStart(8)}`);
    for (const { site: s, result: r } of runs) {
      console.log(`${s.label.padEnd(44)}${(r.answers / r.seconds).toFixed(1).padStart(10)}${percentile(r.latencies, 50).toFixed(0).padStart(9)}${percentile(r.latencies, 95).toFixed(0).padStart(9)}${String(r.errors.length).padStart(8)}`);
      for (const e of [...new Set(r.errors)].slice(0, 3)) console.log(`    error: ${e}`);
    }
    if (firstFailure) {
      const file = join(tempDir(), 'first-failed-page.html');
      writeFileSync(file, firstFailure);
      console.log(`the first failed answer stopped on the page written to ${file}`);
    }
    const [base, proxied] = runs.map((r) => r.result);
    const rate = proxied.answers / proxied.seconds;
    const p95 = percentile(proxied.latencies, 95);
    console.log(`through the proxy: ${rate.toFixed(1)} answers/s (target ${RATE_TARGET}: ${rate >= RATE_TARGET ? 'ok' : 'under'}), p95 ${p95.toFixed(0)} ms (target ${P95_TARGET_MS}: ${p95 <= P95_TARGET_MS ? 'ok' : 'over'}); `
      + `${(rate / (base.answers / base.seconds)).toFixed(2)}x the rate and ${(p95 / percentile(base.latencies, 95)).toFixed(2)}x the p95 of the baseline (the container directly)`);
  } finally {
    await city.down();
  }
}

void runCommand(main, USAGE);
