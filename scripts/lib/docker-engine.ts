// Makes sure a Docker engine answers on this machine, installing and starting one on a fresh
// Debian machine when run as root. It never silently skips: when it cannot, it says what to do.
import { existsSync, openSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { $ } from 'zx';
import { StepError } from '../../core/errors.js';

/** No Docker engine answers and none can be started here: the message says what to install or start. */
export class DockerEngineUnavailable extends StepError {}

const q = $({ quiet: true, nothrow: true });

async function engineAnswers(): Promise<boolean> {
  return (await q`docker info --format {{.ServerVersion}}`).exitCode === 0;
}

async function has(command: string): Promise<boolean> {
  // dockerd and debootstrap live in sbin, which is not on a non-root user's PATH on Debian.
  return (await q`sh -c ${`PATH="$PATH:/usr/sbin:/sbin" command -v ${command}`}`).exitCode === 0;
}

/** Debian packages the engine and image builds need, by the command that proves each installed. */
const ENGINE_PACKAGES: Readonly<Record<string, string>> = { dockerd: 'docker.io', debootstrap: 'debootstrap' };

/**
 * Installs what is missing (as root on Debian), then makes sure an engine answers, starting dockerd
 * when none does. `extraPackages` adds what a caller needs besides (the test suite's tools).
 */
export async function ensureEngine(say: (line: string) => void = () => undefined, extraPackages: Readonly<Record<string, string>> = {}): Promise<void> {
  const missing = [];
  for (const [command, pkg] of Object.entries({ ...ENGINE_PACKAGES, ...extraPackages })) if (!(await has(command))) missing.push(pkg);
  if (missing.length) {
    if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) {
      throw new DockerEngineUnavailable(`missing ${missing.join(', ')}: on Debian, as root: apt-get update && apt-get install -y ${missing.join(' ')}`);
    }
    say(`installing ${missing.join(', ')} from the Debian mirror`);
    await $({ quiet: true })`apt-get update -qq`;
    await $({ quiet: true, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y -qq ${missing}`;
  }
  if (await engineAnswers()) return;
  if (process.getuid?.() !== 0) {
    throw new DockerEngineUnavailable('no Docker engine answers for this user, and it is not root: start dockerd and add the user to the docker group, or run the tests as root (they install and start the engine)');
  }
  say('starting dockerd');
  const log = openSync('/var/log/socle-dockerd.log', 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  for (let i = 0; i < 60; i++) {
    if (await engineAnswers()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new DockerEngineUnavailable('dockerd did not answer within 60 s: see /var/log/socle-dockerd.log');
}
