import type { Command } from './command';

/** Every `gateway` subcommand, in the order `gateway --help` lists them. Each lives in its own module. */
export const commands: readonly Command[] = [];
