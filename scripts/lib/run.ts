// Running commands for the deploy-side scripts: a local process whose lines can be streamed while
// they are kept, and the same on a city host over SSH, with the options the Docker provider uses.
import { spawn } from 'node:child_process';
import type { HostConfig } from '../../stacks/config/types.js';
import { sshCommand } from '../../stacks/ssh.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type Output = (line: string) => void;

/** Runs a command, streaming its lines to `out` (indented) while keeping them for the caller. */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, out?: Output, input?: string): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const relay = (chunk: Buffer, keep: (s: string) => void) => {
      const text = chunk.toString('utf8');
      keep(text);
      if (out) for (const line of text.split('\n')) if (line.trim()) out(`    ${line}`);
    };
    child.stdout.on('data', (c: Buffer) => relay(c, (s) => { stdout += s; }));
    child.stderr.on('data', (c: Buffer) => relay(c, (s) => { stderr += s; }));
    child.on('error', (err) => reject(err));
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs `remote` on the host over SSH (its standard input from `input`). */
export function runOnHost(ssh: HostConfig['ssh'], remote: readonly string[], input?: string, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return run('ssh', sshCommand(ssh, remote), env, undefined, input);
}
