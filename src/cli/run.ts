/**
 * The one way a pipeline reports failure: a single line `<command>: error: <message>` on stderr
 * and a non-zero exit code, never a stack trace (set FMMATCH_DEBUG=1 to see one).
 */

/** Exit code for a bad request (input, options, files). */
export const EXIT_USAGE = 2;
/** Exit code for an interrupted run (work so far is kept; rerun with --resume). */
export const EXIT_INTERRUPTED = 130;

/** An error whose message is meant for the user as it is. */
export class UserError extends Error {}

/** Formats any thrown value as one line. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Runs a command's main function and turns its outcome into an exit code. `main` returns the exit
 * code on success (normally 0).
 */
export async function runCommand(name: string, main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (e) {
    process.stderr.write(`${name}: error: ${oneLine(e)}\n`);
    if (process.env.FMMATCH_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = EXIT_USAGE;
  }
}
