// What every Socle command does with errors: bad input exits 2 with its message (and the usage
// for flag mistakes), anything else exits 1. Commands set process.exitCode, never process.exit().
import { ConfigError } from './config/load.js';
import { OutputDirError, PolicyError, SuppressionError } from './synth.js';
import { InputError, StepError, UsageError } from './errors.js';

export { InputError, StepError, UsageError };

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
