import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; tests pass buffers, the binary passes the process streams. */
export interface CliIO {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: NodeJS.ProcessEnv;
}

/** What a subcommand's module provides: its usage text and how to run it. */
export interface CommandImpl {
  /** Full usage text for `gateway <path> --help`. */
  readonly usage: string;
  /** Runs the command; resolves to the exit status. Throw `UsageError` for bad flags. */
  run(argv: string[], io: CliIO): Promise<number>;
}

/**
 * One subcommand as `gateway --help` lists it: `gateway <path...> [flags]`. Its module is loaded
 * only when it runs, so that `gateway agent run` does not pay for the AWS SDK that `serve` needs.
 */
export interface Command {
  /** Words after `gateway`, e.g. `['cert', 'sign']`. */
  readonly path: readonly string[];
  /** One line for `gateway --help`. */
  readonly summary: string;
  load(): CommandImpl;
}

/** A mistake in how the command was called; the message names the flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses flags the way nebula-cert spells them: `-ca-crt x`, `--ca-crt x` and `--ca-crt=x` are
 * the same flag. Unknown flags, missing values and stray positionals are `UsageError`s.
 */
export function parseFlags<O extends Options>(argv: string[], options: O) {
  return parseCommandLine(argv, options, false).values;
}

/** parseFlags for commands that also take arguments (`gateway hosts show ID`); the caller checks how many. */
export function parseFlagsAndArguments<O extends Options>(argv: string[], options: O) {
  return parseCommandLine(argv, options, true);
}

function parseCommandLine<O extends Options>(argv: string[], options: O, allowPositionals: boolean) {
  const normalized = argv.map((arg) => (/^-[^-]{2,}/.test(arg) ? `-${arg}` : arg));
  try {
    return parseArgs({ args: normalized, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(describeParseError(err as Error));
  }
}

function describeParseError(err: Error): string {
  const flag = /'(-[^']+)'/.exec(err.message)?.[1];
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) return `unknown flag ${flag.split(' ')[0]}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) return `flag ${flag.split(' ')[0]} needs a value`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return err.message.replace(/\. .*$/, '');
  return err.message;
}

/** Reads a required string flag, or throws a `UsageError` naming it. */
export function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`flag --${name} is required`);
  return value;
}
