/**
 * The shared shape of every command's argument parsing and Ctrl-C handling, so that each pipeline
 * only lists its options: strict options, `--help` (exit 0), bad arguments as a UserError (one
 * line), and a first Ctrl-C that asks the work to stop cleanly while a second quits at once.
 */
import type { Argv } from 'yargs';
import yargs from 'yargs';
import { EXIT_INTERRUPTED, UserError } from './run.ts';

/**
 * Parses `argv` with the options `configure` adds. Returns null when `--help` was shown (the
 * command then exits 0).
 */
export async function parseArgs<T>(argv: readonly string[], scriptName: string, usage: string, configure: (y: Argv) => Argv<T>): Promise<T | null> {
  let helpShown = false;
  const configured = configure(yargs([...argv]).scriptName(scriptName).usage(usage));
  // An option that takes a value must be given one: `--seed --out x` would otherwise leave --seed
  // at its default without a word.
  // (getOptions is yargs API that its type declarations omit.)
  const declared = (configured as unknown as { getOptions(): Record<'number' | 'string' | 'array', string[]> }).getOptions();
  const valued = [...declared.number, ...declared.string, ...declared.array].filter((k) => k !== '$0');
  // requiresArg does not see `--seed=` (an empty value): yargs reads it as 0 or ''. And yargs turns
  // `--batch abc` into NaN, which a later check could only report as 'got NaN': name the text.
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(argv[i] as string);
    if (!m) continue;
    const [, key, inline] = m as unknown as [string, string, string | undefined];
    if (inline === '' && valued.includes(key)) throw new UserError(`--${key} needs a value`);
    const value = inline ?? argv[i + 1];
    if (declared.number.includes(key) && value !== undefined && !value.startsWith('--') && value.trim() !== '' && !Number.isFinite(Number(value))) {
      throw new UserError(`--${key} must be a number, got '${value}'`);
    }
  }
  const parser = (valued.length > 0 ? configured.requiresArg(valued) : configured)
    // A repeated option takes its last value (as most CLIs do), not an array.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .strict()
    .version(false)
    .help()
    .alias('h', 'help')
    .exitProcess(false)
    .fail((msg, err) => {
      const missing = /^Not enough arguments following: (\S+)$/.exec(msg ?? '');
      throw new UserError(missing ? `--${missing[1]} needs a value` : (msg ?? err?.message ?? 'bad arguments'));
    })
    .wrap(Math.min(110, process.stdout.columns ?? 110));
  const args = await parser.parseAsync([...argv], {}, (err, _a, output) => {
    if (err) throw err;
    if (output) {
      helpShown = true;
      process.stdout.write(`${output}\n`);
    }
  });
  return helpShown ? null : (args as T);
}

/**
 * Ctrl-C handling for long work: the first SIGINT prints `message` and aborts the returned signal;
 * a second exits at once. Call `dispose` when the work is over.
 */
export function onInterrupt(command: string, message: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let count = 0;
  const handler = (): void => {
    if (++count > 1) process.exit(EXIT_INTERRUPTED);
    process.stderr.write(`\n${command}: ${message} (Ctrl-C again to quit at once)…\n`);
    controller.abort();
  };
  process.on('SIGINT', handler);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', handler) };
}
