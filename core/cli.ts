// What every Socle command does with errors: bad input exits 2 with its message (and the usage
// for flag mistakes), anything else exits 1. Commands set process.exitCode, never process.exit().
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError, SocleError, StepError, UsageError } from './errors.js';

export { InputError, StepError, UsageError };

export async function runCommand(main: () => void | Promise<void>, usage: string): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof SocleError) {
      // Bad input (config, suppression, output directory, missing secret): 2; a failed step or
      // policy errors: 1. The message says what to do next.
      console.error(err.message);
      process.exitCode = err.exitStatus;
    } else {
      // Not one of Socle's known failures: the message, and the stack trace only when asked for
      // (an operator needs what happened and what to do, not Node's internals).
      const message = err instanceof Error ? err.message : String(err);
      console.error(`error: ${message}`);
      if (process.env.SOCLE_DEBUG) console.error(err instanceof Error ? err.stack : err);
      else console.error('this is not an error Socle knows how to explain: run again with SOCLE_DEBUG=1 for the details, and report it with that output');
      process.exitCode = 1;
    }
  }
}

/** The command's flags (no positionals), or a UsageError naming the bad one: exit 2 with the usage. */
export function parseFlags<T>(options: NonNullable<ParseArgsConfig['options']>, args: readonly string[] = process.argv.slice(2)): T {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as T;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
