// The error classes every Socle command uses (see runCommand in cli.ts), in a module of their own:
// code that only throws them (the invitation workers) does not load the config loader and cdktf.

/** A flag mistake: printed with the command's usage. */
export class UsageError extends Error {}

/** Bad input that is not about flags (a missing secret, an unknown stack): printed as is. */
export class InputError extends Error {}

/** A step failed for a known reason; the message says what to do next. Exit status 1. */
export class StepError extends Error {}
