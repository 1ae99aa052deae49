import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { EgressToolError, checkTools } from '../../src/egress';

async function gateway(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  return { status, stdout, stderr };
}

describe('gateway egress run: refusals name the flag or what is missing', () => {
  let empty: string;
  beforeAll(() => (empty = mkdtempSync(join(tmpdir(), 'egress-cli-'))));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it.each([
    [['egress', 'run'], 'flag --dir is required'],
    [['egress', 'run', '--dir', '/x', '--poll-seconds', '0'], 'flag --poll-seconds must be a number of seconds between 0.1 and 3600'],
    [['egress', 'run', '--dir', '/x', '--poll-seconds', 'soon'], 'flag --poll-seconds must be a number'],
    [['egress', 'run', '--dir', '/x', '--log-format', 'xml'], "flag --log-format must be text or json, not 'xml'"],
    [['egress', 'run', '--dir', '/x', '--wait', '5'], 'unknown flag --wait'],
  ])('%j → exit 2: %s', async (argv, message) => {
    const result = await gateway(...argv);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('exits 1 for a directory with no enrolled host, saying what to do', async () => {
    const result = await gateway('egress', 'run', '--dir', empty);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("holds no enrolled host (no agent.json): run 'gateway agent enroll' first");
  });

  it('names the missing tools and their Debian packages', () => {
    expect(() => checkTools({ nft: '/nonexistent/nft', conntrack: '/nonexistent/conntrack' })).toThrow(
      new EgressToolError('egress enforcement needs /nonexistent/nft and /nonexistent/conntrack (apt-get install nftables conntrack)'),
    );
  });

  it('prints its usage with --help', async () => {
    const result = await gateway('egress', 'run', '--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: gateway egress run --dir DIR');
  });
});
