// core/: what every command does with an error that reaches the operator.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, tempDir } from './helpers.js';

function command(body: string, env: Record<string, string> = {}) {
  const file = join(tempDir(), 'command.ts');
  writeFileSync(file, `import { runCommand, InputError, StepError } from ${JSON.stringify(join(ROOT, 'core/cli.ts'))};\nvoid InputError; void StepError;\nvoid runCommand(async () => { ${body} }, 'usage: test');\n`);
  return run(process.execPath, ['--import', 'tsx', file], env);
}

describe('runCommand', () => {
  it('prints a known failure as its message, with its exit status, and no stack trace', () => {
    const step = command("throw new StepError('the registry did not answer: start it, then run again');");
    expect(step.status).toBe(1);
    expect(step.stderr).toBe('the registry did not answer: start it, then run again\n');
    const input = command("throw new InputError('ville.yaml:3: bad');");
    expect(input.status).toBe(2);
    expect(input.stderr).toBe('ville.yaml:3: bad\n');
  });

  it('prints an unexpected error without a stack trace, unless SOCLE_DEBUG is set', () => {
    const plain = command("throw new TypeError('cannot read properties of undefined');");
    expect(plain.status).toBe(1);
    expect(plain.stderr).toMatch(/^error: cannot read properties of undefined\nthis is not an error Socle knows how to explain: run again with SOCLE_DEBUG=1/);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = command("throw new TypeError('cannot read properties of undefined');", { SOCLE_DEBUG: '1' });
    expect(debug.status).toBe(1);
    expect(debug.stderr).toMatch(/TypeError: cannot read properties of undefined\n\s+at /);
  });
});
