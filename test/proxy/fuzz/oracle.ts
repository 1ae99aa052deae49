import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';

/**
 * Node's own HTTP/1.1 parser (llhttp, strict: Node's defaults) as the reference the proxy is
 * compared with: a real `http` server fed raw bytes over a socket for requests, and llhttp's
 * response parser (what `http.request` runs) over the raw bytes of a response stream.
 */

/** One message as a parser saw it: its head, and its body once the message completed. */
export interface SeenMessage {
  method: string;
  url: string;
  /** The decoded body (chunked framing removed), set when the message completed. */
  body?: string;
}

export interface SeenStream {
  messages: SeenMessage[];
  /** llhttp's error code, if it refused something. */
  error?: string;
}

const portOf = (s: Server | NetServer) => (s.address() as AddressInfo).port;

export class RequestOracle {
  private readonly server: Server;
  private readonly byPort = new Map<number, SeenStream>();

  constructor() {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const seen = this.byPort.get(req.socket.remotePort!);
      const message: SeenMessage = { method: req.method!, url: req.url! };
      seen?.messages.push(message);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        message.body = Buffer.concat(chunks).toString('latin1');
        res.end('ok');
      });
    };
    this.server = createServer(onRequest);
    // An unknown Expect is the application's business (Node would answer 417 itself), not the parser's.
    this.server.on('checkExpectation', onRequest);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const seen = this.byPort.get(socket.remotePort!);
      if (seen && !seen.error) seen.error = err.code ?? err.message;
      socket.destroy();
    });
    this.server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const seen = this.byPort.get(socket.remotePort!);
      if (seen && !seen.error) seen.error = 'CONNECT';
      socket.destroy();
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      const seen = this.byPort.get(socket.remotePort!);
      seen?.messages.push({ method: req.method!, url: req.url! });
      if (seen && !seen.error) seen.error = 'UPGRADE';
      socket.destroy();
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
  }

  /** What llhttp accepted from `bytes` sent on one connection and then half-closed. */
  parse(bytes: Buffer): Promise<SeenStream> {
    const seen: SeenStream = { messages: [] };
    return new Promise((resolve) => {
      const socket = connect(portOf(this.server), '127.0.0.1', () => {
        this.byPort.set(socket.localPort!, seen);
        socket.end(bytes);
      });
      const done = () => {
        clearTimeout(timer);
        this.byPort.delete(socket.localPort!);
        resolve(seen);
      };
      // Bounds a server that waits for more body bytes than were sent.
      const timer = setTimeout(() => socket.destroy(), 3000);
      socket.on('data', () => {});
      socket.on('error', () => {});
      socket.on('close', done);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

// Node's internal binding to llhttp: the exact parser its HTTP server and client run, driven
// synchronously (no sockets, so every byte is accounted for).
export const { HTTPParser, methods } = require('_http_common') as {
  HTTPParser: {
    new (): LlhttpParser;
    REQUEST: number;
    RESPONSE: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
  };
  methods: string[];
};
export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | (Error & { code?: string });
  finish(): unknown;
  close(): void;
  [key: number]: unknown;
}

/** The first final response in a byte stream, as llhttp (a client's parser) reads it. */
export interface SeenResponse {
  status?: number;
  /** Header names (lower-cased) and values, in order, without connection-specific ones. */
  headers?: string[];
  body?: string;
  /** The first final response ended as framed (or at the close, for a close-framed one). */
  complete: boolean;
  /** llhttp's error, if it refused the stream before that response was complete. */
  error?: string;
  /** Final responses completed in the stream. */
  finals: number;
  /** llhttp refused bytes after the first final response. */
  errorAfter?: string;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length']);

/** Reads a whole response stream (to the connection's close) with llhttp as a client would. */
export function readResponses(bytes: Buffer, method = 'GET'): SeenResponse {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  const seen: SeenResponse = { complete: false, finals: 0 };
  let pending: string[] = [];
  let status = 0;
  let body: Buffer[] = [];
  parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
    pending = pending.concat(headers);
  };
  parser[HTTPParser.kOnHeadersComplete] = (_ma: number, _mi: number, headers: string[] | undefined, _m: number, _u: string, statusCode: number) => {
    const all = headers ?? pending;
    pending = [];
    status = statusCode;
    if (status >= 200 && seen.finals === 0) {
      const named = new Set<string>();
      for (let i = 0; i < all.length; i += 2) {
        if (all[i].toLowerCase() === 'connection') for (const t of all[i + 1].split(',')) named.add(t.trim().toLowerCase());
      }
      seen.status = status;
      seen.headers = [];
      for (let i = 0; i < all.length; i += 2) {
        const name = all[i].toLowerCase();
        if (!HOP.has(name) && !named.has(name)) seen.headers.push(name, all[i + 1]);
      }
    }
    body = [];
    // As Node's client does for HEAD: a final response to it has no body, whatever it says.
    return method === 'HEAD' && status >= 200 ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    body.push(Buffer.from(chunk));
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    pending = []; // trailers
    if (status < 200) return;
    if (seen.finals++ === 0) {
      seen.complete = true;
      seen.body = Buffer.concat(body).toString('latin1');
    }
  };
  const refused = (ret: unknown) => {
    if (!(ret instanceof Error)) return false;
    const code = (ret as NodeJS.ErrnoException).code ?? ret.message;
    if (seen.finals === 0) seen.error = code;
    else seen.errorAfter = code;
    return true;
  };
  if (!refused(parser.execute(bytes))) refused(parser.finish());
  parser.close();
  return seen;
}

/** Where to cut a case's bytes: fixed by the bytes themselves, so a replay cuts them the same way. */
export function splitPoints(bytes: Buffer): number[] {
  let hash = 0;
  for (const b of bytes) hash = (hash * 31 + b) >>> 0;
  const cuts = hash % 3;
  const points = [0];
  for (let i = 1; i <= cuts; i++) points.push(Math.floor((bytes.length * ((hash >>> (8 * i)) & 255)) / 256));
  return [...new Set(points.sort((a, b) => a - b))];
}

/**
 * A raw environment: answers `GET` (or `HEAD`) `/r/<id>` with the bytes registered under that id, then closes
 * (so a response framed by the close ends there).
 */
export class RawResponder {
  private readonly server: NetServer;
  private readonly responses = new Map<string, Buffer>();

  constructor() {
    this.server = createNetServer((socket) => {
      let head = '';
      socket.on('error', () => {});
      socket.on('data', (c: Buffer) => {
        if (head.includes('\r\n\r\n')) return;
        head += c.toString('latin1');
        const m = /^(?:GET|HEAD) \/r\/(\w+) HTTP\/1\.[01]\r\n[\s\S]*?\r\n\r\n/.exec(head);
        if (!m) return;
        const bytes = this.responses.get(m[1]);
        if (!bytes) {
          socket.destroy();
          return;
        }
        // In up to three pieces, so the proxy also meets heads and chunk lines cut in two.
        const points = splitPoints(bytes);
        const send = (i: number) => {
          if (socket.destroyed) return;
          const piece = bytes.subarray(points[i], points[i + 1] ?? bytes.length);
          if (i + 1 < points.length) {
            socket.write(piece);
            setImmediate(() => send(i + 1));
          } else socket.end(piece);
        };
        send(0);
      });
    });
  }

  get port(): number {
    return portOf(this.server);
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
  }

  set(id: string, bytes: Buffer): void {
    this.responses.set(id, bytes);
  }

  delete(id: string): void {
    this.responses.delete(id);
  }

  async close(): Promise<void> {
    await new Promise((r) => this.server.close(r));
  }
}

/** How many requests llhttp completes from `bytes` (all sent at once), and the error that stopped it. */
export function llhttpRequests(bytes: Buffer): { completed: number; error?: string } {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
  let completed = 0;
  parser[HTTPParser.kOnHeadersComplete] = () => 0;
  parser[HTTPParser.kOnMessageComplete] = () => {
    completed++;
  };
  const ret = parser.execute(bytes);
  parser.close();
  return ret instanceof Error ? { completed, error: (ret as NodeJS.ErrnoException).code } : { completed };
}
