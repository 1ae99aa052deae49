import type { Command } from './command';
import { agentEnrollCommand, agentRunCommand } from './commands/agent';
import { caCreateCommand } from './commands/ca';
import { keygenCommand } from './commands/keygen';
import { certPrintCommand, certSignCommand, certVerifyCommand } from './commands/cert';
import { proxyCommand } from './commands/proxy';
import { serveCommand } from './commands/serve';

/** Every `gateway` subcommand, in the order `gateway --help` lists them. Each lives in its own module. */
export const commands: readonly Command[] = [
  caCreateCommand,
  keygenCommand,
  certSignCommand,
  certPrintCommand,
  certVerifyCommand,
  serveCommand,
  agentEnrollCommand,
  agentRunCommand,
  proxyCommand,
];
