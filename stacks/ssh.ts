// How the deploying machine reaches a host's Docker engine over SSH: one list of options for the
// Docker provider (ssh_opts) and for every ssh command the deploy runs itself, so both trust the
// same pinned host key and log in with the same key.
import type { HostConfig } from './config/types.js';

/** The host's key must already be in the known_hosts file: a changed or unknown key stops the deploy. */
export function sshOptions(ssh: HostConfig['ssh']): string[] {
  const options = [
    'BatchMode=yes',
    'StrictHostKeyChecking=yes',
    `UserKnownHostsFile=${ssh.knownHosts ?? '~/.ssh/known_hosts'}`,
    'ConnectTimeout=15',
    'ServerAliveInterval=15',
    ...(ssh.identityFile ? [`IdentityFile=${ssh.identityFile}`, 'IdentitiesOnly=yes'] : []),
  ];
  return options.flatMap((o) => ['-o', o]);
}

/** `ssh://user@address:port`, as the Docker provider and the docker CLI write it. */
export function sshUrl(ssh: HostConfig['ssh']): string {
  return `ssh://${ssh.user}@${ssh.address}:${ssh.port}`;
}

/** POSIX shell quoting: ssh hands the remote command to the host's shell as one string. */
function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Arguments of `ssh` running one command on the host, with the same options as the provider. */
export function sshCommand(ssh: HostConfig['ssh'], remote: readonly string[]): string[] {
  return [...sshOptions(ssh), '-p', String(ssh.port), `${ssh.user}@${ssh.address}`, '--', remote.map(shellQuote).join(' ')];
}
