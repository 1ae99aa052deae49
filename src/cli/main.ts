import { type CliIO, type Command, UsageError } from './command';
import { commands } from './commands';

const processIO: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env };

/** Entry point of the `gateway` command; resolves to the exit status. */
export async function main(argv: string[], io: CliIO = processIO, table: readonly Command[] = commands): Promise<number> {
  const command = findCommand(argv, table);
  if (!command) {
    const wantsHelp = argv.length === 0 || ['-h', '-help', '--help', 'help'].includes(argv[0]);
    (wantsHelp ? io.stdout : io.stderr).write(overview(table, wantsHelp ? undefined : argv.join(' ')));
    return wantsHelp ? 0 : 2;
  }
  const rest = argv.slice(command.path.length);
  try {
    const impl = command.load();
    if (rest.some((arg) => ['-h', '-help', '--help'].includes(arg))) {
      io.stdout.write(impl.usage.endsWith('\n') ? impl.usage : `${impl.usage}\n`);
      return 0;
    }
    return await impl.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`gateway ${command.path.join(' ')}: ${err.message}\nRun 'gateway ${command.path.join(' ')} --help' for usage.\n`);
      return 2;
    }
    io.stderr.write(`gateway ${command.path.join(' ')}: ${(err as Error).message}\n`);
    return 1;
  }
}

function findCommand(argv: string[], table: readonly Command[]): Command | undefined {
  return [...table]
    .sort((a, b) => b.path.length - a.path.length)
    .find((c) => c.path.every((word, i) => argv[i] === word));
}

function overview(table: readonly Command[], unknown?: string): string {
  const width = Math.max(...table.map((c) => c.path.join(' ').length));
  const lines = table.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`);
  const head = unknown === undefined ? '' : `gateway: unknown command '${unknown}'\n\n`;
  return `${head}Usage: gateway <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nFlags take one dash or two (-ca-crt or --ca-crt). 'gateway <command> --help' shows a command's flags.\n`;
}
