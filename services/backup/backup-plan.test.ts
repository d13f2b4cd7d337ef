// The contract of services/backup/plan.ts, checked from both ends: the plan the stack renders
// holds exactly the keys the type defines, the runner's program reads only those keys, and what the
// program prints is what `npm run backup` parses.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BackupRunner } from './index.js';
import { BACKUP_PLAN_PATH, BACKUP_PLAN_VERSION, PLAN_KEYS, RUNNER_PATHS, parseRunnerLine, type BackupPlan } from './plan.js';
import { MariaDb } from '../mariadb/index.js';
import { errorLines } from '../../scripts/lib/backup.js';
import { headerFields } from '../mail-gateway/message-audit.js';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { containerNamed, fileOf, synthInHost, tempDir, testAlerts } from '../../tests/helpers.js';

const SCRIPT = new URL('./bin/socle-backup', import.meta.url).pathname;
const script = readFileSync(SCRIPT, 'utf8');
const hasJq = spawnSync('jq', ['--version']).status === 0;
if (!hasJq) console.warn('backup-plan.test.ts: jq is not installed here: the tests that run socle-backup are skipped (apt-get install jq)');

function renderedPlan(): BackupPlan {
  const json = synthInHost((s) => {
    new BackupRunner(s, 'backup', { targets: [{ name: 'nas', host: '10.0.0.9', port: 22, user: 'restic', path: '/srv/restic' }], password: 'x', sshPrivateKey: 'y', alerts: testAlerts(s) });
    new MariaDb(s, 'db', { service: 'app', network: s.network(s, { name: 'app-data', tier: 'data' }) });
    s.volume(s, { name: 'app-uploads', service: 'app', category: 'personal', retention: 'x', expectContent: true });
  });
  return JSON.parse(fileOf(containerNamed(json, 'ville-exemple-backup-restic'), BACKUP_PLAN_PATH));
}

/** Every value of a JSON document as a jq path (`.a.b`, `.list[].x`). */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return [...new Set(value.flatMap((v) => leafPaths(v, `${prefix}[]`)))];
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leafPaths(v, `${prefix}.${k}`));
  return [prefix];
}

/** The plan paths the program reads: the quoted arguments of its `plan` and `plan_rows` calls. */
function pathsReadByScript(): string[] {
  const calls = script.split('\n').filter((l) => /\bplan(_rows)? '/.test(l) || /^\s+'\.[a-zA-Z]/.test(l));
  return [...new Set(calls.flatMap((l) => [...l.matchAll(/'(\.[A-Za-z][\w.[\]]*)'/g)].map((m) => m[1])))].sort();
}

/** Runs the program on a plan whose paths point into a temporary directory. */
function runScript(args: string[], tweak: (plan: BackupPlan, dir: string) => BackupPlan = (p) => p, input?: string) {
  const dir = tempDir('socle-backup-plan-');
  const base = renderedPlan();
  const paths = Object.fromEntries(Object.entries(base.paths).map(([k, v]) => [k, join(dir, v)])) as unknown as BackupPlan['paths'];
  const plan = tweak({ ...base, paths }, dir);
  const file = join(dir, 'plan.json');
  writeFileSync(file, JSON.stringify(plan));
  const r = spawnSync('bash', [SCRIPT, ...args], { env: { PATH: process.env.PATH, SOCLE_BACKUP_PLAN: file, TMPDIR: join(dir, 'tmp') }, encoding: 'utf8', input });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, plan, dir };
}

describe('the backup plan', () => {
  it('holds exactly the keys PLAN_KEYS lists', () => {
    expect(leafPaths(renderedPlan()).sort()).toEqual([...PLAN_KEYS].sort());
  });

  it('is read by socle-backup through those keys only, and every key is read', () => {
    // Read by others: the image creates the home (Dockerfile, checked below), restic finds its cache
    // through RESTIC_CACHE_DIR, which the stack sets from the same constant; the relay's CA is
    // uploaded by the stack to paths.relayCa, which the program reads as .alerts.trustFile.
    const readElsewhere = ['.paths.home', '.paths.cache', '.paths.relayCa'];
    expect(pathsReadByScript()).toEqual(PLAN_KEYS.filter((k) => !readElsewhere.includes(k)).sort());
  });

  it('is read by socle-backup only through its plan helpers (no other jq on the plan)', () => {
    expect(script.match(/jq [^\n]*"\$PLAN"/g)).toHaveLength(2);
    expect(script).not.toMatch(/SOCLE_(DB|BACKUP)_[A-Z_0-9]*(?<!_PLAN)\b/);
  });

  it('is where socle-backup looks for it, and the image prepares the paths it names', () => {
    expect(script).toContain(`PLAN=\${SOCLE_BACKUP_PLAN:-${BACKUP_PLAN_PATH}}\n`);
    expect(script).toContain(`[ "$version" = ${BACKUP_PLAN_VERSION} ]`);
    const dockerfile = readFileSync(new URL('./Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toContain(`install -d -m 0700 ${RUNNER_PATHS.home} `);
    expect(dockerfile).toContain(`ln -s ${RUNNER_PATHS.sshHome}/.ssh /root/.ssh`);
  });
});

describe.skipIf(!hasJq)('socle-backup against a plan', () => {
  it('prints errors in the format npm run backup parses', () => {
    const r = runScript(['contents', 'absent', 'latest']);
    expect(r.status).toBe(1);
    const line = r.stderr.trim().split('\n').find((l) => parseRunnerLine(l)?.error);
    expect(line, r.stderr).toBeDefined();
    expect(parseRunnerLine(line!)).toMatchObject({ error: true, message: 'no backup target named absent (targets: nas)' });
    expect(parseRunnerLine(line!)!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(errorLines(r.stderr)).toBe('  ERROR: no backup target named absent (targets: nas)');
    rmSync(r.dir, { recursive: true, force: true });
  });

  it('is healthy while the heartbeat is recent and no run failed', () => {
    const fresh = runScript(['healthy'], (p) => {
      mkdirSync(join(p.paths.heartbeat, '..'), { recursive: true });
      writeFileSync(p.paths.heartbeat, '');
      return p;
    });
    expect(fresh.status).toBe(0);
    const failed = runScript(['healthy'], (p) => {
      for (const f of [p.paths.heartbeat, p.paths.failedMark]) {
        mkdirSync(join(f, '..'), { recursive: true });
        writeFileSync(f, '');
      }
      return p;
    });
    expect(failed.status).toBe(1);
    expect(runScript(['healthy']).status).toBe(1);
  });

  it('keeps an alert it cannot send as one well-formed message: one sender, names quoted or encoded, the plan\'s recipients', () => {
    // The relay is a loopback port nothing listens on (or msmtp is absent here): either way the
    // alert cannot leave, and stays queued as the file the relay will get.
    const queuedAlert = (label: string, subject: string) => {
      const r = runScript(['notify', subject], (p) => ({ ...p, alerts: { ...p.alerts, label, host: '127.0.0.1', port: 9, retrySeconds: [] } }), 'Corps du message.\n');
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/alert NOT sent after 1 attempt\(s\).*It stays queued \(1 alert\(s\) in /);
      const files = readdirSync(r.plan.paths.alertQueue);
      expect(files).toHaveLength(1);
      const raw = readFileSync(join(r.plan.paths.alertQueue, files[0]), 'utf8');
      rmSync(r.dir, { recursive: true, force: true });
      return { raw, fields: Object.fromEntries(headerFields(raw)) };
    };
    const decode = (v: string) => v.replace(/\?=\s+=\?/g, '?==?').replace(/=\?UTF-8\?B\?([^?]+)\?=/g, (_, b) => Buffer.from(b, 'base64').toString('utf8'));

    const accented = queuedAlert('Saint-Étienne, serveur "1"', 'Sauvegarde de la nuit en ÉCHEC, « urgent »');
    const from = addressparser(accented.fields.from) as Array<{ name: string; address: string }>;
    expect(from).toHaveLength(1);
    expect(from[0].address).toBe('ne-pas-repondre@ville-exemple.fr');
    expect(decode(from[0].name)).toBe('Sauvegardes Saint-Étienne, serveur "1"');
    expect(decode(accented.fields.subject)).toBe('[Saint-Étienne, serveur "1"] Sauvegarde de la nuit en ÉCHEC, « urgent »');
    for (const word of accented.raw.match(/=\?UTF-8\?B\?[^?]*\?=/g) ?? []) expect(word.length).toBeLessThanOrEqual(75);
    expect(accented.fields.to).toBe('dsi@ville-exemple.fr');
    expect(accented.fields['message-id']).toMatch(/^<[^@>]+@ville-exemple\.fr>$/);
    expect(accented.fields['auto-submitted']).toBe('auto-generated');
    expect(accented.fields['content-type']).toBe('text/plain; charset=UTF-8');
    expect(accented.raw.split(/\n\n/).slice(1).join('\n\n')).toBe('Corps du message.\n');

    // A plain ASCII name with a comma is quoted: unquoted, msmtp -t read it as a second recipient.
    const plain = queuedAlert('Ville-Exemple, serveur-1', 'Essai');
    expect(plain.fields.from).toBe('"Sauvegardes Ville-Exemple, serveur-1" <ne-pas-repondre@ville-exemple.fr>');
    expect(addressparser(plain.fields.from)).toHaveLength(1);
  });

  it('refuses a plan of another version, and a daemon time that is not HH:MM', () => {
    const other = runScript(['status'], (p) => ({ ...p, version: 2 }));
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/is version 2, this program reads version 1/);
    expect(runScript(['daemon', '25:00']).status).toBe(2);
  });
});
