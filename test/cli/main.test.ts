import { main } from '../../src/cli/main';
import { type Command, parseFlags, required, UsageError } from '../../src/cli/command';

function capture() {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    env: {},
  };
  return { out, io };
}

const echo: Command = {
  path: ['echo', 'name'],
  summary: 'prints --name',
  load: () => ({
    usage: 'Usage: gateway echo name --name N',
    async run(argv, io) {
      const flags = parseFlags(argv, { name: { type: 'string' } });
      io.stdout.write(`${required(flags, 'name')}\n`);
      return 0;
    },
  }),
};

describe('gateway command dispatch', () => {
  it('accepts nebula-cert style one-dash flags and GNU style two-dash flags alike', async () => {
    for (const argv of [['-name', 'a'], ['--name', 'a'], ['--name=a'], ['-name=a']]) {
      const { out, io } = capture();
      expect(await main(['echo', 'name', ...argv], io, [echo])).toBe(0);
      expect(out.stdout).toBe('a\n');
    }
  });

  it('names the unknown flag and exits 2', async () => {
    const { out, io } = capture();
    expect(await main(['echo', 'name', '-nmae', 'a'], io, [echo])).toBe(2);
    expect(out.stderr).toContain('unknown flag --nmae');
  });

  it('names a missing required flag', async () => {
    const { out, io } = capture();
    expect(await main(['echo', 'name'], io, [echo])).toBe(2);
    expect(out.stderr).toContain('flag --name is required');
  });

  it('names a flag given without its value', async () => {
    expect(() => parseFlags(['--name'], { name: { type: 'string' } })).toThrow(UsageError);
    expect(() => parseFlags(['--name'], { name: { type: 'string' } })).toThrow(/--name/);
  });

  it('lists commands for --help and rejects unknown commands with status 2', async () => {
    const help = capture();
    expect(await main(['--help'], help.io, [echo])).toBe(0);
    expect(help.out.stdout).toContain('echo name  prints --name');
    const unknown = capture();
    expect(await main(['frobnicate'], unknown.io, [echo])).toBe(2);
    expect(unknown.out.stderr).toContain("unknown command 'frobnicate'");
  });

  it('prints a command usage for --help without running it', async () => {
    const { out, io } = capture();
    expect(await main(['echo', 'name', '--help'], io, [echo])).toBe(0);
    expect(out.stdout).toBe('Usage: gateway echo name --name N\n');
  });
});
