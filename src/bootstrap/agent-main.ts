import { agentEnrollCommand, agentRunCommand } from '../cli/commands/agent';
import { type CliIO, type CommandImpl, UsageError } from '../cli/command';

/**
 * `gateway agent enroll|run` and nothing else: the environment bundle's commands. Not through
 * src/cli/main.ts, whose command table pulls in `serve` and the admin commands (the AWS SDK):
 * the bundle stays about 150 KB instead of 1 MB.
 */
const AGENT_COMMANDS: Readonly<Record<string, { summary: string; impl: CommandImpl }>> = {
  enroll: { summary: 'enroll this host: make its key, get a certificate and a nebula config', impl: agentEnrollCommand },
  run: { summary: 'run nebula for an enrolled host and keep its config and certificate current', impl: agentRunCommand },
};

const USAGE = `Usage: gateway-agent <command> [flags]

Commands:
${Object.entries(AGENT_COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`)
  .join('\n')}
  version  the gateway version this agent was built from

'gateway-agent <command> --help' shows a command's flags (spelled 'gateway agent <command>' there).
`;

/**
 * `gateway-agent enroll|run [flags]` (the wrapper the bootstrap script installs) is `gateway agent
 * enroll|run`; `gateway-agent version` prints the gateway version the bundle was built from.
 * Resolves to the exit status: 2 for a usage error (the message names the flag), 1 for a failure.
 */
export async function agentMain(argv: readonly string[], io: CliIO, version: string): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'version' || first === '--version') {
    io.stdout.write(`gateway-agent ${version}\n`);
    return 0;
  }
  const command = first !== undefined && Object.hasOwn(AGENT_COMMANDS, first) ? AGENT_COMMANDS[first] : undefined;
  if (!command) {
    const help = first === undefined || ['-h', '-help', '--help', 'help'].includes(first);
    (help ? io.stdout : io.stderr).write(`${help ? '' : `gateway-agent: unknown command '${first}'\n\n`}${USAGE}`);
    return help ? 0 : 2;
  }
  if (rest.some((arg) => ['-h', '-help', '--help'].includes(arg))) {
    io.stdout.write(command.impl.usage);
    return 0;
  }
  try {
    return await command.impl.run(rest, io);
  } catch (err) {
    const usage = err instanceof UsageError;
    io.stderr.write(`gateway-agent ${first}: ${(err as Error).message}\n${usage ? `Run 'gateway-agent ${first} --help' for usage.\n` : ''}`);
    return usage ? 2 : 1;
  }
}
