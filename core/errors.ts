// The error classes every Socle command uses (see runCommand in cli.ts), in a module of their own:
// code that only throws them (the invitation workers, npm run backup) loads neither the config
// loader nor cdktf. Each carries its exit status: 2 for bad input, 1 for a step that failed.

/** An error whose message is for the operator as it is (no stack trace), with its exit status. */
export abstract class SocleError extends Error {
  abstract readonly exitStatus: 1 | 2;
}

/** A flag mistake: printed with the command's usage. */
export class UsageError extends SocleError {
  readonly exitStatus = 2;
}

/** Bad input that is not about flags (a missing secret, an unknown stack): printed as is. */
export class InputError extends SocleError {
  readonly exitStatus = 2;
}

/** A step failed for a known reason; the message says what to do next. Exit status 1. */
export class StepError extends SocleError {
  readonly exitStatus = 1;
}
