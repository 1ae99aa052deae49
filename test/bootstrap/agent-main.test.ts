import { agentMain } from '../../src/bootstrap/agent-main';

/** `gateway-agent`, the bundle's command: enroll and run only, each flag error naming the flag. */

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} },
  };
}

describe('gateway-agent', () => {
  it.each([[['version']], [['--version']]])('%j prints the version it was built from', async (argv) => {
    const { out, io: streams } = io();
    expect(await agentMain(argv, streams, '1.2.3')).toBe(0);
    expect(out).toEqual({ stdout: 'gateway-agent 1.2.3\n', stderr: '' });
  });

  it.each([[[]], [['--help']], [['help']]])('%j prints the commands', async (argv) => {
    const { out, io: streams } = io();
    expect(await agentMain(argv, streams, '1.2.3')).toBe(0);
    expect(out.stdout).toContain('Usage: gateway-agent <command> [flags]');
    expect(out.stdout).toMatch(/^ {2}enroll /m);
    expect(out.stdout).toMatch(/^ {2}run /m);
  });

  it.each([[['serve']], [['hosts', 'list']], [['toString']]])('%j is not one of its commands: exit 2', async (argv) => {
    const { out, io: streams } = io();
    expect(await agentMain(argv, streams, '1.2.3')).toBe(2);
    expect(out.stderr).toContain(`gateway-agent: unknown command '${argv[0]}'`);
  });

  it("a command's --help is its usage", async () => {
    const { out, io: streams } = io();
    expect(await agentMain(['enroll', '--help'], streams, '1.2.3')).toBe(0);
    expect(out.stdout).toContain('--token TOKEN');
  });

  it.each([
    [['enroll', '--dir', '/tmp/x', '--token', 'gwe_x'], '--api'],
    [['enroll', '--api', 'not a url', '--token', 'gwe_x', '--dir', '/tmp/x'], '--api'],
    [['run', '--dir', '/tmp/x', '--wait', '600'], '--wait'],
    [['run', '--bogus'], 'bogus'],
  ])('%j: exit 2 naming %s', async (argv, flag) => {
    const { out, io: streams } = io();
    expect(await agentMain(argv, streams, '1.2.3')).toBe(2);
    expect(out.stderr).toContain(`gateway-agent ${argv[0]}: `);
    expect(out.stderr).toContain(flag);
  });

  it('a failure that is not a usage error: exit 1 with the reason', async () => {
    const { out, io: streams } = io();
    expect(await agentMain(['run', '--dir', '/nonexistent/gateway-agent-test'], streams, '1.2.3')).toBe(1);
    expect(out.stderr).toContain('holds no enrolled host');
  });
});
