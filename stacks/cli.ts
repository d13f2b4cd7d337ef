// What every Socle command does with errors: bad input exits 2 with its message (and the usage
// for flag mistakes), anything else exits 1. Commands set process.exitCode, never process.exit().
import { ConfigError } from './config/load.js';
import { OutputDirError, PolicyError, SuppressionError } from './synth.js';

/** A flag mistake: printed with the command's usage. */
export class UsageError extends Error {}

/** Bad input that is not about flags (a missing secret, an unknown stack): printed as is. */
export class InputError extends Error {}

/** A step failed for a known reason; the message says what to do next. Exit status 1. */
export class StepError extends Error {}

export async function runCommand(main: () => void | Promise<void>, usage: string): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError || err instanceof SuppressionError || err instanceof InputError || err instanceof OutputDirError) {
      console.error(err.message);
      process.exitCode = 2;
    } else if (err instanceof PolicyError || err instanceof StepError) {
      console.error(err.message);
      process.exitCode = 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  }
}
