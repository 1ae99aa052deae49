import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AgentBundleError, agentBundleBanner, describeAgentBundle } from '../../src/bootstrap/agent-bundle';
import { ApiUrlError, bootstrapApiUrl } from '../../src/bootstrap/api-url';
import { BootstrapInputError, type BootstrapScriptInput, ENROLL_TOKEN_ENV, renderBootstrapScript, shQuote } from '../../src/bootstrap/script';
import { describeNeeding } from '../support/prerequisites';

/** The bootstrap script as rendered (pure), checked by shellcheck and run by sh for its argument handling; its unit by systemd-analyze. */

const INPUT: BootstrapScriptInput = {
  apiUrl: 'https://gw.example.com',
  version: '0.1.0',
  agentUrl: 'https://gw.example.com/v1/agent/0.1.0-0123456789abcdef.js',
  sha256: '0123456789abcdef'.repeat(4),
};

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-script-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the rendered script with `args`, as `curl … | sh -s -- args` does (script on stdin), with
 * GATEWAY_ENROLL_TOKEN only when `envToken` is given, as `uid` when given.
 */
function runScript(args: string[], envToken?: string, uid?: number): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env[ENROLL_TOKEN_ENV];
  if (envToken !== undefined) env[ENROLL_TOKEN_ENV] = envToken;
  const user = uid === undefined ? {} : { uid, gid: uid, cwd: '/' };
  const result = spawnSync('sh', ['-s', '--', ...args], { input: renderBootstrapScript(INPUT), encoding: 'utf8', env, ...user });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A token file in `dir` holding `content`, with `mode`. */
function tokenFile(dir: string, content: string, mode = 0o600, name = 'token'): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

describe('renderBootstrapScript', () => {
  it('pins the API, the agent URL, version and SHA-256, each quoted once', () => {
    const script = renderBootstrapScript(INPUT);
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script.match(/^(GATEWAY_API|AGENT_VERSION|AGENT_URL|AGENT_SHA256)=.*$/gm)).toEqual([
      "GATEWAY_API='https://gw.example.com'",
      "AGENT_VERSION='0.1.0'",
      "AGENT_URL='https://gw.example.com/v1/agent/0.1.0-0123456789abcdef.js'",
      `AGENT_SHA256='${INPUT.sha256}'`,
    ]);
    expect(renderBootstrapScript(INPUT)).toBe(script);
  });

  it.each([
    ['a quote in the API URL', { apiUrl: "https://gw.example.com/'x" }, 'apiUrl'],
    ['a $ in the agent URL', { agentUrl: 'https://gw.example.com/$(id)' }, 'agentUrl'],
    ['a space in the API URL', { apiUrl: 'https://gw example.com' }, 'apiUrl'],
    ['a file URL', { agentUrl: 'file:///etc/passwd' }, 'agentUrl'],
    ['an upper-case digest', { sha256: 'A'.repeat(64) }, 'sha256'],
    ['a short digest', { sha256: 'a'.repeat(63) }, 'sha256'],
    ['a version with a newline', { version: '1.0\nrm -rf /' }, 'version'],
  ])('refuses %s, naming it', (_what, change, field) => {
    expect(() => renderBootstrapScript({ ...INPUT, ...change })).toThrow(BootstrapInputError);
    expect(() => renderBootstrapScript({ ...INPUT, ...change })).toThrow(field);
  });

  it.each([
    ['plain', "'plain'"],
    ["it's", `'it'\\''s'`],
    ['$(id) `id`', "'$(id) `id`'"],
  ])('shQuote(%j) is %s', (value, quoted) => {
    expect(shQuote(value)).toBe(quoted);
    expect(spawnSync('sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' }).stdout).toBe(value);
  });
});

describe('bootstrapApiUrl', () => {
  it.each([
    [{ host: 'gw.example.com' }, undefined, 'http://gw.example.com'],
    [{ host: '198.18.0.1:8080' }, undefined, 'http://198.18.0.1:8080'],
    [{ host: '[fd00::1]:8080' }, undefined, 'http://[fd00::1]:8080'],
    [{ host: 'gw.example.com', 'x-forwarded-proto': 'https' }, undefined, 'https://gw.example.com'],
    [{ host: 'gw.example.com', 'x-forwarded-proto': 'HTTPS, http' }, undefined, 'https://gw.example.com'],
    [{ host: 'gw.example.com', 'x-forwarded-proto': 'ftp' }, undefined, 'http://gw.example.com'],
    [{ host: 'evil.example', 'x-forwarded-proto': 'http' }, 'https://api.example.com/api/', 'https://api.example.com/api'],
    [{}, 'https://api.example.com/api', 'https://api.example.com/api'],
  ])('%j with %s → %s', (headers, configured, url) => {
    expect(bootstrapApiUrl(headers, configured)).toBe(url);
  });

  it.each([[{}], [{ host: '' }], [{ host: 'a b' }], [{ host: "x';id;'" }], [{ host: 'x/y' }], [{ host: 'x:port' }], [{ host: '-x.example' }], [{ host: `${'a'.repeat(64)}.example` }]])(
    'refuses the Host header of %j',
    (headers) => {
      expect(() => bootstrapApiUrl(headers)).toThrow(ApiUrlError);
    },
  );
});

describe('describeAgentBundle', () => {
  it('reads the version from the banner and names the file after the version and digest', () => {
    const bytes = Buffer.from(`${agentBundleBanner('1.2.3-rc.1')}\nconsole.log(1);\n`);
    const bundle = describeAgentBundle(bytes);
    expect(bundle.version).toBe('1.2.3-rc.1');
    expect(bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(bundle.fileName).toBe(`1.2.3-rc.1-${bundle.sha256.slice(0, 16)}.js`);
    expect(Buffer.from(bundle.content, 'utf8').equals(bytes)).toBe(true);
  });

  it.each([
    ['no banner', 'console.log(1);\n', 'banner'],
    ['a banner without a version', '#!/usr/bin/env node\n// gateway-agent \nx\n', 'banner'],
    ['non-ASCII content', `${agentBundleBanner('1.0.0')}\nconsole.log("é");\n`, 'ASCII'],
  ])('refuses %s', (_what, text, message) => {
    expect(() => describeAgentBundle(Buffer.from(text))).toThrow(AgentBundleError);
    expect(() => describeAgentBundle(Buffer.from(text))).toThrow(message);
  });
});

describe('the script run with bad arguments (nothing checked or installed yet)', () => {
  it.each([
    [['--bogus'], "unknown argument '--bogus'"],
    [['--token'], '--token needs a value'],
    [['--name', 'Bad_Name'], '--name must be lowercase letters, digits and'],
    [['--name', 'a'.repeat(33)], '--name must be at most 32 characters'],
    [['--dir', 'relative/dir'], '--dir must be an absolute path'],
    [['--dir', '/var/lib/x y'], '--dir may hold only'],
    [['--dir=/var/lib/$(id)'], '--dir may hold only'],
    [['--dir', '/var/lib/../etc'], '--dir must be a plain absolute path'],
    [['--dir', '/var//lib'], '--dir must be a plain absolute path'],
    [['--token', 'gwa_admin'], '--token must be an enrollment token (gwe_...)'],
    [['--token', "gwe_a';id;'"], '--token is malformed'],
  ])('%j: exit 2 naming the flag', (args, message) => {
    const result = runScript(args);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`gateway-bootstrap: ${message}`);
  });

  it('spells a directory one way: trailing slashes go', () => {
    const printed = runScript(['--print-unit', '--dir', '/srv/gateway/dev1///']);
    expect(printed.status).toBe(0);
    expect(printed.stdout).toContain('ExecStart=/usr/local/bin/gateway-agent run --dir /srv/gateway/dev1 --nebula ');
  });

  it('never echoes a token', () => {
    const result = runScript(['--token', 'gwe_secret+value']);
    expect(result.status).toBe(2);
    expect(result.stderr).not.toContain('secret');
  });

  it('runs nothing when cut short in transit: everything is in main, called on the last line', () => {
    const script = renderBootstrapScript(INPUT);
    expect(script.endsWith('\nmain "$@"\n')).toBe(true);
    for (const cut of [0.25, 0.5, 0.9, 0.999]) {
      const result = spawnSync('sh', ['-s', '--', '--bogus'], { input: script.slice(0, Math.floor(script.length * cut)), encoding: 'utf8' });
      expect([cut, result.stderr]).not.toEqual([cut, expect.stringContaining('gateway-bootstrap:')]);
    }
  });

  it('--help prints the usage with the pinned API, the token file first', () => {
    const result = runScript(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: curl -fsSL https://gw.example.com/v1/bootstrap | sudo sh -s -- --token-file PATH');
    expect(result.stdout).toMatch(/--token TOKEN +on the command line: every local user can read it with ps/);
  });
});

// --print-unit stops right after the arguments are checked: status 0 says the token was taken.
describe('the enrollment token from --token-file, GATEWAY_ENROLL_TOKEN or --token', () => {
  const TOKEN = 'gwe_Abc-123_xyz';
  /** The script's arguments and GATEWAY_ENROLL_TOKEN, given a token file holding TOKEN. */
  type Given = (file: string) => { args: string[]; env?: string };

  it.each<[string, Given]>([
    ['--token-file, with its trailing newline', (file) => ({ args: ['--token-file', file] })],
    ['--token-file=PATH', (file) => ({ args: [`--token-file=${file}`] })],
    ['GATEWAY_ENROLL_TOKEN', () => ({ args: [], env: TOKEN })],
    ['--token', () => ({ args: ['--token', TOKEN] })],
    ['all three, the same token', (file) => ({ args: ['--token', TOKEN, '--token-file', file], env: TOKEN })],
    ['a file readable by its owner only, read-only (0400)', (file) => (chmodSync(file, 0o400), { args: ['--token-file', file] })],
    ['an empty GATEWAY_ENROLL_TOKEN beside a file (an empty variable is no token)', (file) => ({ args: ['--token-file', file], env: '' })],
  ])('takes it from %s', (_what, given) => {
    withDir((dir) => {
      const { args, env } = given(tokenFile(dir, `${TOKEN}\n`));
      const result = runScript(['--print-unit', ...args], env);
      expect([result.status, result.stderr]).toEqual([0, '']);
      expect(result.stdout).not.toContain(TOKEN);
    });
  });

  it.each([
    ['a missing file', (dir: string) => ['--token-file', join(dir, 'absent')], '--token-file <dir>/absent: no such file'],
    ['a directory', (dir: string) => ['--token-file', dir], '--token-file <dir> is a directory'],
    ['an empty path', () => ['--token-file='], '--token-file needs a path'],
    ['no path', () => ['--token-file'], '--token-file needs a value'],
    ['an empty file', (dir: string) => ['--token-file', tokenFile(dir, '')], '--token-file <dir>/token is empty'],
    ['a file of one newline', (dir: string) => ['--token-file', tokenFile(dir, '\n')], '--token-file <dir>/token is empty'],
    ['a file others can read (0644)', (dir: string) => ['--token-file', tokenFile(dir, `${TOKEN}\n`, 0o644)], '--token-file <dir>/token can be read by other users (-rw-r--r--): make it readable by its owner only (chmod 600 <dir>/token)'],
    ['a file its group can read (0640)', (dir: string) => ['--token-file', tokenFile(dir, `${TOKEN}\n`, 0o640)], '--token-file <dir>/token can be read by other users (-rw-r-----)'],
    ['a link to a file others can read', (dir: string) => (symlinkSync(tokenFile(dir, `${TOKEN}\n`, 0o604), join(dir, 'link')), ['--token-file', join(dir, 'link')]), '--token-file <dir>/link can be read by other users (-rw----r--)'],
    ['a file of something else', (dir: string) => ['--token-file', tokenFile(dir, 'gwa_admin-secret\n')], 'the token in --token-file <dir>/token must be an enrollment token (gwe_...)'],
    ['a file of two tokens', (dir: string) => ['--token-file', tokenFile(dir, `${TOKEN}\ngwe_second-secret\n`)], 'the token in --token-file <dir>/token is malformed'],
    ['a file with a CRLF line end', (dir: string) => ['--token-file', tokenFile(dir, 'gwe_secret\r\n')], 'the token in --token-file <dir>/token is malformed'],
  ])('refuses %s: exit 2 naming the flag, the file never echoed', (_what, args, message) => {
    withDir((dir) => {
      const result = runScript(['--print-unit', ...args(dir)]);
      expect([result.status, result.stdout]).toEqual([2, '']);
      expect(result.stderr).toContain(`gateway-bootstrap: ${message.replaceAll('<dir>', dir)}`);
      expect(result.stderr).not.toContain('secret');
    });
  });

  it('refuses a file it cannot read (root reads any: then the script runs as nobody)', () => {
    withDir((dir) => {
      const file = tokenFile(dir, `${TOKEN}\n`, 0o000);
      chmodSync(dir, 0o711);
      const result = runScript(['--print-unit', '--token-file', file], undefined, process.getuid?.() === 0 ? 65534 : undefined);
      expect([result.status, result.stderr]).toEqual([2, `gateway-bootstrap: --token-file ${file} cannot be read\n`]);
    });
  });

  it.each([
    ['bad_secret', `${ENROLL_TOKEN_ENV} must be an enrollment token (gwe_...)`],
    ['gwe_secret value', `${ENROLL_TOKEN_ENV} is malformed`],
  ])('refuses GATEWAY_ENROLL_TOKEN=%j naming the variable, the value never echoed', (value, message) => {
    const result = runScript(['--print-unit'], value);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`gateway-bootstrap: ${message}`);
    expect(result.stderr).not.toContain('secret');
  });

  it.each<[string, Given]>([
    ['--token and --token-file', (file) => ({ args: ['--token', 'gwe_secretOne', '--token-file', file] })],
    ['--token and GATEWAY_ENROLL_TOKEN', () => ({ args: ['--token', 'gwe_secretOne'], env: TOKEN })],
    ['--token-file and GATEWAY_ENROLL_TOKEN', (file) => ({ args: ['--token-file', file], env: 'gwe_secretOne' })],
  ])('refuses %s giving different tokens, naming both', (pair, given) => {
    withDir((dir) => {
      const { args, env } = given(tokenFile(dir, `${TOKEN}\n`));
      const result = runScript(['--print-unit', ...args], env);
      expect([result.status, result.stderr]).toEqual([2, `gateway-bootstrap: ${pair} give different tokens: give one\n`]);
    });
  });
});

describeNeeding(['shellcheck'])('the rendered script: shellcheck', () => {
  // The wrapper it installs is checked where it is installed, in test/e2e/bootstrap.netns.test.ts.
  it('finds nothing in the script', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'bootstrap.sh'), renderBootstrapScript(INPUT));
      const check = spawnSync('shellcheck', ['--shell=sh', '--format=gcc', join(dir, 'bootstrap.sh')], { encoding: 'utf8' });
      expect([check.status, check.stdout]).toEqual([0, '']);
    });
  });

  it('is not blind: it flags a bashism in a POSIX sh script', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'bad.sh'), '#!/bin/sh\n[[ -n "$1" ]] && echo yes\n');
      const check = spawnSync('shellcheck', ['--shell=sh', '--format=gcc', join(dir, 'bad.sh')], { encoding: 'utf8' });
      expect(check.status).not.toBe(0);
      expect(check.stdout).toContain('SC3010');
    });
  });
});

describeNeeding(['systemd-analyze'])('the systemd unit the script installs: systemd-analyze verify', () => {
  it.each([[[]], [['--name', 'dev2', '--dir', '/srv/gateway/dev2']]])('with %j', (args) => {
    withDir((root) => {
      const printed = runScript(['--print-unit', ...args]);
      expect(printed.status).toBe(0);
      cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
      for (const stub of ['/usr/local/bin/gateway-agent', '/usr/bin/nebula']) {
        mkdirSync(dirname(join(root, stub)), { recursive: true });
        writeFileSync(join(root, stub), '#!/bin/sh\n');
        chmodSync(join(root, stub), 0o755);
      }
      const unit = args.length > 0 ? 'gateway-agent-dev2.service' : 'gateway-agent.service';
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      writeFileSync(join(root, 'etc/systemd/system', unit), printed.stdout);
      expect(printed.stdout).toContain(`ExecStart=/usr/local/bin/gateway-agent run --dir ${args.length > 0 ? '/srv/gateway/dev2' : '/var/lib/gateway-agent'} --nebula `);
      const result = spawnSync('systemd-analyze', ['verify', `--root=${root}`, `/etc/systemd/system/${unit}`], { encoding: 'utf8' });
      expect({ status: result.status, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, output: '' });
    });
  });
});
