import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeNeeding } from '../support/prerequisites';

/**
 * docs/examples/devcontainer: the Dockerfile parsed (no hadolint here; no image is built: that
 * would download packages), its RUN lines and the entrypoint through shellcheck. The entrypoint
 * itself joins a real mesh in test/e2e/bootstrap.netns.test.ts.
 */

const DIR = resolve(__dirname, '../../docs/examples/devcontainer');

const INSTRUCTIONS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The Dockerfile's instructions: continuation lines joined, comments and blank lines dropped. */
function parseDockerfile(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\S+)\s+(.*)$/.exec(line);
      if (!match) throw new Error(`not an instruction: ${line}`);
      return { keyword: match[1], args: match[2] };
    });
}

describe('the dev container example', () => {
  const instructions = parseDockerfile(readFileSync(join(DIR, 'Dockerfile'), 'utf8'));
  const args = (keyword: string) => instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('is made of Dockerfile instructions only, one stage on Debian 12 with Node.js 20', () => {
    expect(instructions.map((i) => i.keyword).filter((k) => !INSTRUCTIONS.has(k))).toEqual([]);
    expect(instructions[0].keyword).toBe('FROM');
    expect(args('FROM')).toEqual(['public.ecr.aws/docker/library/node:20-bookworm-slim']);
  });

  it('installs nebula and curl from Debian', () => {
    const install = args('RUN').find((r) => r.includes('apt-get install'))!;
    expect(install.split(/\s+/)).toEqual(expect.arrayContaining(['nebula', 'curl', 'ca-certificates']));
  });

  it('copies the entrypoint that exists here, and starts it with the container command as its arguments', () => {
    const [source, target] = args('COPY')[0].split(/\s+/);
    expect(existsSync(join(DIR, source))).toBe(true);
    expect(JSON.parse(args('ENTRYPOINT')[0])).toEqual([target]);
    expect(Array.isArray(JSON.parse(args('CMD')[0]))).toBe(true);
    expect(args('VOLUME')).toEqual(['/var/lib/gateway-agent']);
  });

  it('keeps the token off every command line and out of the image: the script reads GATEWAY_ENROLL_TOKEN itself', () => {
    const entrypoint = readFileSync(join(DIR, 'entrypoint.sh'), 'utf8');
    expect(entrypoint).not.toMatch(/--token/);
    expect(entrypoint).toMatch(/^sh "\$script" --dir "\$dir" &$/m);
    expect(instructions.filter((i) => /TOKEN/.test(i.args)).map((i) => i.keyword)).toEqual([]);
    expect(readFileSync(join(DIR, 'README.md'), 'utf8')).toContain('  -e GATEWAY_ENROLL_TOKEN \\\n');
  });

  it('the parser is not blind: a misspelt instruction is seen', () => {
    expect(parseDockerfile('FROM debian\nRUNN true\n').map((i) => i.keyword).filter((k) => !INSTRUCTIONS.has(k))).toEqual(['RUNN']);
  });
});

describeNeeding(['shellcheck'])('the dev container example: shellcheck', () => {
  it('finds nothing in the entrypoint or the RUN lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'devcontainer-'));
    try {
      const runs = parseDockerfile(readFileSync(join(DIR, 'Dockerfile'), 'utf8')).filter((i) => i.keyword === 'RUN');
      writeFileSync(join(dir, 'run.sh'), `#!/bin/sh\n${runs.map((r) => r.args).join('\n')}\n`);
      const check = spawnSync('shellcheck', ['--shell=sh', '--format=gcc', join(DIR, 'entrypoint.sh'), join(dir, 'run.sh')], { encoding: 'utf8' });
      expect([check.status, check.stdout]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
