#!/usr/bin/env -S node --import tsx
// scripts/audit.ts: the auditor's report. Proves, from the city file and the stacks Socle
// synthesizes for it (what Terraform will apply), where personal data lives, that no third party
// receives any, and what the citizen audit's findings became: audit.html, audit.json, audit.md.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InputError, UsageError, parseFlags, runCommand } from '../core/cli.js';
import { synthesize } from '../stacks/synth.js';
import { auditedCommune } from '../stacks/audit/model.js';
import { runChecks } from '../stacks/audit/checks.js';
import { observeLive } from '../stacks/audit/live.js';
import { observeLetters } from '../stacks/audit/letters.js';
import { inNetwork } from '../stacks/config/checks/ownership.js';
import { AUDIT_SCHEMA_FILE, auditDocument, auditHtml, auditMarkdown } from '../stacks/audit/report.js';

const USAGE = `usage: npm run audit -- --config FILE|DIR [--out DIR] [--live [--dns ADDRESS[:PORT]] [--ca FILE] [--page NAME/PATH]... [--tor HOST:PORT | --onion-at ADDRESS] [--mail] [--surveys] [--timeout SECONDS]] [--letters DIR]
The static audit: from the city file(s) and the stacks synthesized for them (in a scratch
directory: nothing is deployed, cdktf.out is not touched), every store of personal data (host,
site, owner, retention and what enforces it, backups), every flow that leaves a host and its
destination's owner, the egress matrix per container, the policy results with each suppression's
reason, and the legal notice as the proxy serves it. Each check answers a finding of the citizen
audit (F1–F10) and gives its evidence and its fix.
  --config FILE|DIR   a city file, or a directory of city files
  --out DIR           where to write audit.html, audit.json (with audit.schema.json) and audit.md
                      (default: audit-report; a directory holding anything but a previous report
                      is refused)
  --live              also observe the deployed city from this machine: DNS of every public
                      name and zone (no CNAME or NS at a third party, addresses inside
                      commune.owns.networks), HTTPS on every name (TLS, HSTS, CSP,
                      Referrer-Policy, security.txt, no CDN header), and a crawl in Debian's
                      Chromium of each name's home page, legal notice, register and cookies
                      notice, and of its onion site (--tor or --onion-at), recording
                      every request, every load the CSP blocked and every cookie set before any
                      click. A name resolving outside the city's networks is reported, never
                      contacted; the browser reaches no host but the city's names.
  --dns ADDRESS[:PORT]  the resolver to ask (default: this machine's)
  --ca FILE           a CA the city's certificates chain to, besides the system's (PEM)
  --page NAME/PATH    one more page to crawl, e.g. participer.ville-exemple.fr/processes (repeatable)
  --tor HOST:PORT     crawl the onion sites (announced by Onion-Location) through this Tor SOCKS
                      proxy on this machine, e.g. 127.0.0.1:9050 (Tor Browser's: 127.0.0.1:9150)
  --mail              also run npm run mail -- check on each city file (the relay, as an app
                      reaches it through the mail gateway; needs the relay's password in the
                      environment the city file names, as that command does)
  --surveys           also run npm run survey -- check --active on each city file: every survey
                      open to answers takes single-use codes only, no account, registration or
                      public listing, anonymous answers, an end date (over SSH, as that command
                      does; needs SOCLE_LIMESURVEY_ADMIN_PASSWORD)
  --onion-at ADDRESS  crawl the onion sites at the proxy's onion virtual hosts on ADDRESS (the
                      front host, inside commune.owns.networks: from the server room, without Tor)
  --timeout SECONDS   how long each probe and page may take before it counts as failed
                      (default 10; a page must load and fall quiet within it)
  --letters DIR       also read back a print run of the invitation letters (the directory
                      npm run invitations -- generate wrote): every file of each side as printed
                      (PDFs through pdftotext), no code on the envelopes' side, no name on the
                      codes' side nor in LimeSurvey's participant file (one city file only)
  -h, --help          this help
exit status: 0 every check passes, 1 a check fails (the report says which and how to fix it),
2 bad input (nothing written)`;

interface Args { config?: string; out?: string; letters?: string; live?: boolean; dns?: string; ca?: string; page?: string[]; tor?: string; 'onion-at'?: string; mail?: boolean; surveys?: boolean; timeout?: string; help?: boolean }

const REPORT_FILES = ['audit.html', 'audit.json', 'audit.md', 'audit.schema.json'] as const;

async function main(): Promise<void> {
  const args = parseFlags<Args>({
    config: { type: 'string' }, out: { type: 'string' }, letters: { type: 'string' }, live: { type: 'boolean' }, dns: { type: 'string' }, ca: { type: 'string' },
    tor: { type: 'string' }, 'onion-at': { type: 'string' }, mail: { type: 'boolean' }, surveys: { type: 'boolean' }, timeout: { type: 'string' }, page: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
  });
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config is required: the city file, or a directory of city files');
  if (!args.live && (args.dns || args.ca || args.page || args.tor || args['onion-at'] || args.mail || args.surveys || args.timeout)) throw new UsageError('--dns, --ca, --page, --tor, --onion-at, --mail, --surveys and --timeout are for the live part: add --live');
  const timeoutSeconds = args.timeout === undefined ? undefined : Number(args.timeout);
  if (timeoutSeconds !== undefined && !(Number.isInteger(timeoutSeconds) && timeoutSeconds >= 1 && timeoutSeconds <= 300)) throw new InputError(`--timeout ${args.timeout}: give whole seconds from 1 to 300, e.g. --timeout 30`);
  if (args.tor && args['onion-at']) throw new UsageError('--tor and --onion-at are two ways to the same onion sites: give one');
  if (args.tor && !/^(127(\.\d{1,3}){3}|\[::1\]):\d{1,5}$/.test(args.tor)) throw new InputError(`--tor ${args.tor}: give the SOCKS port of a Tor on this machine, e.g. --tor 127.0.0.1:9050 (the audit sends nothing to another machine but the city's)`);
  if (args['onion-at'] && !isIPv4(args['onion-at'])) throw new InputError(`--onion-at ${args['onion-at']}: give the front host's IPv4 address, e.g. --onion-at 10.20.0.10`);
  if (args.dns && !/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\])(:\d{1,5})?$/i.test(args.dns)) throw new InputError(`--dns ${args.dns}: give the resolver's address, e.g. --dns 10.20.0.53 or --dns 127.0.0.1:5353`);
  if (args.ca && !existsSync(args.ca)) throw new InputError(`--ca ${args.ca}: no such file; give the PEM file of the CA the city's certificates chain to`);
  if (args.ca && !readFileSync(args.ca, 'utf8').includes('-----BEGIN CERTIFICATE-----')) throw new InputError(`--ca ${args.ca}: not a PEM certificate; give the CA's certificate (-----BEGIN CERTIFICATE-----)`);
  for (const p of args.page ?? []) if (!/^[a-z0-9.-]+\.[a-z]{2,}(\/\S*)?$/i.test(p)) throw new InputError(`--page ${p}: give a public name and a path, e.g. --page participer.ville-exemple.fr/processes`);
  const out = resolve(args.out ?? 'audit-report');
  if (existsSync(out) && readdirSync(out).some((f) => !(REPORT_FILES as readonly string[]).includes(f))) {
    throw new InputError(`--out ${out} holds files that are not an audit report: refusing to write there\n  fix: choose another --out, or an empty directory`);
  }
  const say = (line: string) => console.error(`audit: ${line}`);
  const scratch = mkdtempSync(join(tmpdir(), 'socle-audit-'));
  try {
    const steps = args.live ? 4 : 3;
    say(`[1/${steps}] reading ${args.config} and synthesizing its stacks (scratch directory, never deployed)…`);
    const started = Date.now();
    const { cities, outdir } = synthesize({ config: args.config, outdir: join(scratch, 'cdktf.out'), reportPolicyErrors: true });
    let communes = cities.map((c) => auditedCommune(c, outdir));
    if (args.letters) {
      if (communes.length !== 1) throw new UsageError(`--letters reads one commune's print run: give one city file with --config, not a directory of ${communes.length}`);
      say(`  reading the print run in ${args.letters} as printed…`);
      communes = [{ ...communes[0], letters: observeLetters(args.letters) }];
    }
    if (args.live) {
      say(`[2/${steps}] observing the deployed ${communes.length === 1 ? 'city' : `${communes.length} communes`} from this machine…`);
      const observed = [];
      for (const [i, c] of communes.entries()) {
        const at = args['onion-at'];
        if (at && !c.owns.networks.some((n) => inNetwork(at, n))) throw new InputError(`--onion-at ${at}: outside the networks ${c.legalEntity} owns (commune.owns.networks: ${c.owns.networks.join(', ')}); the audit contacts none but the city's addresses`);
        const pages = (args.page ?? []).filter((p) => c.publicNames.some((n) => p === n.hostname || p.startsWith(`${n.hostname}/`)));
        observed.push({ ...c, live: await observeLive(c, cities[i].services.proxy.httpsPort, { dns: args.dns, ca: args.ca, pages, tor: args.tor, onionAt: at, mailCheckOf: args.mail ? c.file : undefined, surveysCheckOf: args.surveys ? c.file : undefined, timeoutSeconds, say: (l) => say(`  ${l}`) }) });
      }
      communes = observed;
    }
    say(`[${steps - 1}/${steps}] checking ${cities.length} commune(s)…`);
    const results = runChecks(communes);
    const doc = auditDocument(communes, results);
    say(`[${steps}/${steps}] writing the report…`);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'audit.json'), `${JSON.stringify(doc, null, 2)}\n`);
    copyFileSync(AUDIT_SCHEMA_FILE, join(out, 'audit.schema.json'));
    writeFileSync(join(out, 'audit.md'), auditMarkdown(doc));
    writeFileSync(join(out, 'audit.html'), auditHtml(doc));
    const failed = results.filter((r) => r.status === 'fail');
    for (const r of failed) console.error(`  NON CONFORME ${r.id} (${r.commune}): ${r.evidence[0].replace(/^ÉCHEC : /, '')}${r.evidence.length > 1 ? ` (+${r.evidence.length - 1})` : ''}\n    fix: ${r.fix}`);
    say(`${results.length - failed.length}/${results.length} checks pass, in ${Date.now() - started} ms; report in ${out}/audit.html (audit.json, audit.md)`);
    if (failed.length) {
      console.error(`next: fix what each failed check names, then run npm run audit -- --config ${args.config} again`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await runCommand(main, USAGE);
