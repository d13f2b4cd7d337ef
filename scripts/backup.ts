#!/usr/bin/env -S node --import tsx
// scripts/backup.ts: operate the backups of a city's hosts (run, list, check, status, restore,
// drill) through each host's Docker engine and the backup runner the stacks declared.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCity } from '../stacks/config/load.js';
import type { CityConfig, HostConfig } from '../stacks/config/types.js';
import { InputError, StepError, UsageError, runCommand } from '../core/cli.js';
import { Engine, drill, drillMarkdown, errorLines, findRunner, inRunner, notifyFromRunner, restore, statusMail, type Runner } from './lib/backup.js';
import { sshOptions, sshUrl } from '../stacks/ssh.js';

const USAGE = `usage: npm run backup -- COMMAND --config FILE [--host NAME] [options]
commands:
  run                      dump the databases and back up every host now, to every target
  verify                   dump and check every input a run needs, record nothing
  list                     snapshots of each host, per target
  check [--read-data P]    restic check of every target (P: also read P% of the data, e.g. 10)
  status [--max-age-hours H] [--notify]
                           age of the last good backup per target; exit 1 past H hours
                           (default: services.backup.maxAgeHours of the city file)
  restore --snapshot ID [--service NAME] [--target NAME] [--overwrite]
                           put a snapshot back into the live stack (ID from list, or latest);
                           refuses to replace existing data without --overwrite
  drill [--snapshot ID] [--target NAME] [--report-dir DIR] [--notify]
                           restore into throwaway containers on an isolated network, compare
                           with the live data, write a dated report (JSON + Markdown) with the
                           measured RTO and RPO (default snapshot: latest; dir: drills/)
  --notify                 (status, drill) also mail the report, or the failure, to mail.alerts
                           through the host's mail gateway; queued on the runner when the relay
                           cannot take it (sent at its next success), and the command exits 1
options:
  --config FILE            the city file
  --host NAME              only this host (default: every host running a backup runner)
  --docker-host URL        reach the engine at URL instead of ssh://user@address:port from the
                           city file (e.g. unix:///var/run/docker.sock when run on the host)
  -h, --help               this help
exit status: 0 ok, 1 a step failed (or a drill found differences, or status found a stale
target, or a --notify report could not be sent), 2 bad input`;

const COMMANDS = ['run', 'verify', 'list', 'check', 'status', 'restore', 'drill'] as const;
type Command = typeof COMMANDS[number];

interface Args {
  config?: string; host?: string; 'docker-host'?: string; snapshot?: string; service?: string; target?: string;
  overwrite?: boolean; 'report-dir'?: string; 'max-age-hours'?: string; 'read-data'?: string; notify?: boolean; help?: boolean;
}

function parse(): { command?: Command; args: Args } {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: {
        config: { type: 'string' }, host: { type: 'string' }, 'docker-host': { type: 'string' }, snapshot: { type: 'string' },
        service: { type: 'string' }, target: { type: 'string' }, overwrite: { type: 'boolean' }, 'report-dir': { type: 'string' },
        'max-age-hours': { type: 'string' }, 'read-data': { type: 'string' }, notify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true, allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const args = parsed.values as Args;
  if (args.help) return { args };
  const [command, ...extra] = parsed.positionals;
  if (!command) throw new UsageError('a command is required');
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command "${command}"; commands: ${COMMANDS.join(', ')}`);
  if (extra.length) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);
  const only: Record<string, readonly Command[]> = {
    snapshot: ['restore', 'drill'], service: ['restore'], target: ['restore', 'drill'], overwrite: ['restore'],
    'report-dir': ['drill'], 'max-age-hours': ['status'], 'read-data': ['check'], notify: ['status', 'drill'],
  };
  for (const [flag, commands] of Object.entries(only)) {
    if (args[flag as keyof Args] !== undefined && !commands.includes(command as Command)) throw new UsageError(`--${flag} applies to ${commands.join(' and ')} only`);
  }
  if (command === 'restore' && !args.snapshot) throw new UsageError('restore needs --snapshot ID (see npm run backup -- list; "latest" for the newest)');
  if (args['max-age-hours'] !== undefined && !(Number(args['max-age-hours']) > 0)) throw new UsageError(`--max-age-hours must be a positive number of hours, got "${args['max-age-hours']}"`);
  if (args['read-data'] !== undefined && !/^(100|[1-9][0-9]?)(\.[0-9]+)?$/.test(args['read-data'])) throw new UsageError(`--read-data must be a percentage between 1 and 100, got "${args['read-data']}"`);
  return { command: command as Command, args };
}

/** The hosts to work on, each with its engine URL. */
function selectHosts(city: CityConfig, args: Args): Array<{ host: HostConfig; engine: Engine }> {
  let hosts = city.hosts;
  if (args.host) {
    hosts = hosts.filter((h) => h.name === args.host);
    if (hosts.length === 0) throw new InputError(`${args.config}: no host named "${args.host}"; hosts: ${city.hosts.map((h) => h.name).join(', ')}`);
  }
  if (args['docker-host'] && hosts.length > 1) throw new UsageError(`--docker-host reaches one engine: add --host NAME (one of ${hosts.map((h) => h.name).join(', ')})`);
  // The city file's known_hosts and key, as the deploy uses them (stacks/ssh.ts).
  return hosts.map((host) => ({ host, engine: args['docker-host'] ? new Engine(args['docker-host']) : new Engine(sshUrl(host.ssh), sshOptions(host.ssh)) }));
}

function pickTarget(runner: Runner, wanted?: string): string {
  if (!wanted) return runner.targets[0];
  if (!runner.targets.includes(wanted)) throw new InputError(`no backup target named "${wanted}" on ${runner.name}; targets: ${runner.targets.join(', ')}`);
  return wanted;
}

const say = (line: string) => console.error(line);

/** --notify: the report goes to mail.alerts from the runner; a report that stays queued fails the command. */
async function notify(engine: Engine, runner: Runner, host: string, mail: { subject: string; body: string }, failures: string[]): Promise<void> {
  const r = await notifyFromRunner(engine, runner, mail.subject, mail.body);
  if (r.sent) say(`${host}: report mailed to ${runner.plan.alerts.to.join(', ')}`);
  else failures.push(`${host}: ${r.problem}\n  It stays queued in the runner and is sent at its next success; fix the mail route (npm run mail -- check)`);
}

async function main(): Promise<void> {
  const { command, args } = parse();
  if (!command) {
    console.log(USAGE);
    return;
  }
  if (!args.config) throw new UsageError('--config FILE is required');
  const city = loadCity(args.config);
  const slug = city.commune.slug;
  const failures: string[] = [];
  let found = 0;
  for (const { host, engine } of selectHosts(city, args)) {
    const probe = await engine.docker(['version', '--format', '{{.Server.Version}}'], { nothrow: true });
    if (probe.exitCode !== 0) {
      failures.push(`${host.name}: the Docker engine at ${engine.url} does not answer (${probe.stderr.trim().split('\n').pop()}): check SSH access for ${host.ssh.user}, or pass --docker-host`);
      continue;
    }
    const runner = await findRunner(engine, slug);
    if (!runner) {
      say(`${host.name}: no backup runner (nothing to back up on this host)`);
      continue;
    }
    found++;
    say(`== ${host.name} (${runner.name}, targets: ${runner.targets.join(', ')})`);
    switch (command) {
      case 'run':
      case 'verify':
      case 'list':
      case 'check': {
        const sub = { run: ['run'], verify: ['verify'], list: ['snapshots'], check: ['check', ...(args['read-data'] ? [`${args['read-data']}%`] : [])] }[command];
        const out = await inRunner(engine, runner, sub);
        if (out.exitCode !== 0) failures.push(`${host.name}: ${command} failed:\n${errorLines(out.stderr)}`);
        break;
      }
      case 'status': {
        const out = await inRunner(engine, runner, ['status', ...(args['max-age-hours'] ? [args['max-age-hours']] : [])], true);
        const rows = out.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
        if (rows.length === 0) throw new StepError(`${host.name}: the runner gave no status:\n${errorLines(out.stderr)}`);
        for (const r of rows) {
          const age = r.ageSeconds === null ? 'never' : `${(r.ageSeconds / 3600).toFixed(1)} h ago`;
          console.log(`${host.name}\t${r.target}\t${r.state}\t${r.time ?? '-'}\t${age}\t(max ${r.maxAgeHours} h)`);
          if (r.state !== 'ok') failures.push(`${host.name}: ${r.message}`);
        }
        if (args.notify) await notify(engine, runner, host.name, statusMail(host.name, rows), failures);
        break;
      }
      case 'restore': {
        const result = await restore(engine, runner, { commune: slug, target: pickTarget(runner, args.target), snapshot: args.snapshot!, service: args.service, overwrite: args.overwrite ?? false, say });
        console.log(`${host.name}: restored snapshot ${result.snapshot.short_id} (${result.snapshot.time}): volumes ${result.volumes.join(', ') || 'none'}; databases ${result.databases.join(', ') || 'none'}; ${result.seconds.toFixed(1)} s`);
        break;
      }
      case 'drill': {
        let report;
        try {
          report = await drill(engine, runner, { commune: slug, host: host.name, target: pickTarget(runner, args.target), snapshot: args.snapshot ?? 'latest', say });
        } catch (err) {
          if (args.notify) {
            await notify(engine, runner, host.name, {
              subject: 'Exercice de restauration en ÉCHEC',
              body: `L'exercice de restauration sur l'hôte ${host.name} n'a pas pu aller au bout :\n\n${(err as Error).message}\n\nQue faire : corriger la cause indiquée, puis relancer npm run backup -- drill --notify.\n\n-- \nMessage automatique de Socle (npm run backup -- drill --notify).`,
            }, failures);
          }
          throw err;
        }
        const dir = args['report-dir'] ?? 'drills';
        mkdirSync(dir, { recursive: true });
        const base = join(dir, `restauration-${slug}-${host.name}-${report.startedAt.replace(/[:.]/g, '-')}`);
        writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
        writeFileSync(`${base}.md`, drillMarkdown(report));
        console.log(`${host.name}: drill of snapshot ${report.snapshot.id.slice(0, 8)}: RTO ${report.rtoSeconds.toFixed(1)} s, RPO ${(report.rpoSeconds / 3600).toFixed(2)} h, ${report.identical ? 'identical to the live data' : 'DIFFERENCES with the live data'}\n  report: ${base}.md (and .json)`);
        if (!report.identical) failures.push(`${host.name}: the restored data differs from the live data; read ${base}.md (data changed since the snapshot is a normal cause: drill right after a run to rule it out)`);
        if (args.notify) {
          await notify(engine, runner, host.name, {
            subject: `Exercice de restauration : ${report.identical ? 'données identiques' : 'DIFFÉRENCES'}`,
            body: `${drillMarkdown(report)}\nRapport complet : ${base}.md (et .json), sur la machine qui a lancé l'exercice.\n\n-- \nMessage automatique de Socle (npm run backup -- drill --notify).\n`,
          }, failures);
        }
        break;
      }
    }
  }
  if (found === 0 && failures.length === 0) throw new StepError(`no backup runner found for commune ${slug} on any selected host: deploy the stacks first (npm run deploy)`);
  if (failures.length) throw new StepError(`backup ${command}: ${failures.length} problem(s):\n${failures.map((f) => `- ${f}`).join('\n')}`);
}

void runCommand(main, USAGE);
