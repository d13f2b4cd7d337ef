// How the mail commands reach the city's relay: the route an app takes. A throwaway container on
// the stack's `mail` network (the gateway's own image, so nothing new is pulled) opens a TCP
// connection to the relay's host name, which on that network is the gateway; its standard input
// and output are the connection. The deploying machine speaks SMTP and TLS itself over that pipe,
// so the relay's certificate is checked end to end, exactly as an app checks it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { HostConfig } from '../../stacks/config/types.js';
import { sshCommand } from '../../stacks/ssh.js';

/** A local TCP endpoint whose connections arrive at the relay by some route. */
export interface RelayRoute {
  /** Connect here (127.0.0.1) and check the relay's certificate for `servername`. */
  readonly host: string;
  readonly port: number;
  /** The relay's host name, for TLS verification (SNI and the certificate's names). */
  readonly servername: string;
  /** In words, for reports: which way the connection went. */
  readonly description: string;
  /** Stderr of the last tunnel that failed, when one did (a missing network, a stopped engine). */
  lastFailure(): string | undefined;
  close(): Promise<void>;
}

/** The names Socle gives a city's mail gateway and network on a host (services/mail-gateway). */
export function mailGatewayNames(slug: string): { container: string; network: string } {
  return { container: `${slug}-mail-gateway`, network: `${slug}-mail` };
}

/**
 * Bash in the probe container: connect to the relay name and copy both ways. `exec 3<>` fails
 * at once when the name does not resolve or the gateway refuses, and bash says which.
 */
const PIPE_SCRIPT = 'exec 3<>"/dev/tcp/$0/$1" || exit 3; cat <&3 & cat >&3; wait';

/**
 * A route through a container on the host's mail network, started over SSH for each connection:
 * `docker run --rm -i --network <slug>-mail` with the gateway's image, as an unprivileged user,
 * read-only, with no capability.
 */
export async function routeThroughGateway(o: { ssh: HostConfig['ssh']; hostName: string; slug: string; relayHost: string; relayPort: number; image: string }): Promise<RelayRoute> {
  const { network } = mailGatewayNames(o.slug);
  const remote = ['docker', 'run', '--rm', '-i', '--network', network, '--user', '65534:65534', '--read-only', '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges', '--log-driver', 'none', '--entrypoint', 'bash', o.image, '-c', PIPE_SCRIPT, o.relayHost, String(o.relayPort)];
  return localEndpoint(() => spawn('ssh', sshCommand(o.ssh, remote), { stdio: ['pipe', 'pipe', 'pipe'], detached: true }), o.relayHost,
    `from a container on ${network} (the apps' network) on ${o.hostName}, through the mail gateway`);
}

/** A direct TCP route to an address (no gateway): the baseline of bench/mail, and fixture tests. */
export async function directRoute(address: string, port: number, servername: string): Promise<RelayRoute> {
  return localEndpoint(() => spawn('bash', ['-c', PIPE_SCRIPT, address, String(port)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true }), servername,
    `directly from this machine to ${address}:${port}`);
}

async function localEndpoint(open: () => ChildProcess, servername: string, description: string): Promise<RelayRoute> {
  let failure: string | undefined;
  const children = new Set<ChildProcess>();
  // Each pipe runs in its own process group, killed whole: the copying `cat`s hold the connection.
  const kill = (child: ChildProcess) => {
    try { if (child.pid) process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
  };
  const server: Server = createServer((socket) => {
    const child = open();
    children.add(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    socket.pipe(child.stdin!);
    child.stdout!.pipe(socket);
    child.stdin!.on('error', () => socket.destroy());
    socket.on('error', () => kill(child));
    socket.on('close', () => kill(child));
    child.on('close', (code) => {
      children.delete(child);
      if (code !== 0 && code !== null && stderr.trim()) failure = stderr.trim();
      socket.end();
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1', port, servername, description,
    lastFailure: () => failure,
    close: () => new Promise<void>((resolve) => {
      for (const c of children) kill(c);
      server.close(() => resolve());
    }),
  };
}
