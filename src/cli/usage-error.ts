/** Bad usage of a command: exit code 2, one line on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command ran but failed: exit code 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}
