import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { itemBytes, type WireItem } from './item-size';

/** One item written by an operation: which kind of item (key prefixes) and its size. */
export interface WrittenItem {
  readonly kind: string;
  readonly bytes: number;
}

/** DynamoDB capacity consumed by one measured operation. */
export interface Capacity {
  readUnits: number;
  /** Write units on the table itself (1 KB each, twice in a transaction, as DynamoDB bills them). */
  tableWriteUnits: number;
  /** Write units on the gsi1 index (the host listing), 1 KB each. */
  indexWriteUnits: number;
  written: WrittenItem[];
}

export const noCapacity = (): Capacity => ({ readUnits: 0, tableWriteUnits: 0, indexWriteUnits: 0, written: [] });

const READS = new Set(['GetItem', 'Query', 'BatchGetItem', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const KB = 1024;

interface Write {
  readonly table: string;
  readonly key: WireItem;
  readonly item?: WireItem;
}

/**
 * A loopback HTTP proxy in front of DynamoDB Local that meters the gateway's DynamoDB use, which
 * it measures unchanged (the gateway only points at this endpoint). Reads: the capacity DynamoDB
 * Local reports (`ReturnConsumedCapacity` added to each read). Writes: DynamoDB Local reports one
 * item's worth for a whole transaction, so each written item is read before and after the write
 * and billed as DynamoDB bills it: the larger of the two sizes, in 1 KB units, twice inside a
 * transaction, plus its gsi1 copy when the item has one. DynamoDB Local does not check request
 * signatures, so the proxy may change bodies and issue its own GetItems.
 */
export class CapacityMeter {
  current: Capacity = noCapacity();
  private server: Server | undefined;
  private readonly target: URL;

  constructor(target: string) {
    this.target = new URL(target);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.handle(req.headers, req.method ?? 'POST', req.url ?? '/', Buffer.concat(chunks)).then(
          (answer) => res.writeHead(answer.status, answer.headers).end(answer.body),
          (err: Error) => res.writeHead(502).end(String(err)),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(headers: IncomingHttpHeaders, method: string, path: string, body: Buffer) {
    const op = String(headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (READS.has(op)) {
      const answer = await this.forward(headers, method, path, Buffer.from(JSON.stringify({ ...JSON.parse(body.toString('utf8')), ReturnConsumedCapacity: 'TOTAL' })));
      if (answer.status === 200) {
        const consumed = JSON.parse(answer.body.toString('utf8')).ConsumedCapacity as { CapacityUnits?: number } | { CapacityUnits?: number }[] | undefined;
        for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) this.current.readUnits += c.CapacityUnits ?? 0;
      }
      return answer;
    }
    if (!WRITES.has(op)) return this.forward(headers, method, path, body);
    const writes = writesOf(op, JSON.parse(body.toString('utf8')));
    const before = await Promise.all(writes.map((w) => this.getItem(headers, w)));
    const answer = await this.forward(headers, method, path, body);
    if (answer.status !== 200) return answer;
    const after = await Promise.all(writes.map((w) => this.getItem(headers, w)));
    const factor = op === 'TransactWriteItems' ? 2 : 1;
    writes.forEach((w, i) => {
      const old = before[i];
      const now = after[i];
      const bytes = Math.max(old ? itemBytes(old) : 0, now ? itemBytes(now) : 0, w.item ? itemBytes(w.item) : 0);
      this.current.tableWriteUnits += factor * Math.max(1, Math.ceil(bytes / KB));
      if (now?.gsi1pk) this.current.indexWriteUnits += Math.max(1, Math.ceil(itemBytes(now) / KB));
      if (old?.gsi1pk && (!now || old.gsi1pk.S !== now.gsi1pk?.S)) this.current.indexWriteUnits += 1;
      this.current.written.push({ kind: kindOf(w.key), bytes });
    });
    return answer;
  }

  private async getItem(headers: IncomingHttpHeaders, w: Write): Promise<WireItem | undefined> {
    const answer = await this.forward({ ...headers, 'x-amz-target': 'DynamoDB_20120810.GetItem' }, 'POST', '/', Buffer.from(JSON.stringify({ TableName: w.table, Key: w.key, ConsistentRead: true })));
    if (answer.status !== 200) throw new Error(`meter GetItem: HTTP ${answer.status} ${answer.body.toString('utf8')}`);
    return JSON.parse(answer.body.toString('utf8')).Item as WireItem | undefined;
  }

  private forward(headers: IncomingHttpHeaders, method: string, path: string, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = request(
        { host: this.target.hostname, port: this.target.port, method, path, headers: { ...headers, 'content-length': String(body.length), host: this.target.host } },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            const { 'x-amz-crc32': _crc, 'content-length': _length, ...rest } = answer.headers;
            resolve({ status: answer.statusCode ?? 502, headers: rest, body: Buffer.concat(parts) });
          });
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** The items a write request touches, with the item itself for puts. */
function writesOf(op: string, body: Record<string, any>): Write[] {
  const keyOf = (item: WireItem): WireItem => ({ pk: item.pk, sk: item.sk });
  switch (op) {
    case 'PutItem':
      return [{ table: body.TableName, key: keyOf(body.Item), item: body.Item }];
    case 'UpdateItem':
    case 'DeleteItem':
      return [{ table: body.TableName, key: body.Key }];
    case 'TransactWriteItems':
      return (body.TransactItems as Record<string, any>[]).flatMap((t) => {
        if (t.Put) return [{ table: t.Put.TableName, key: keyOf(t.Put.Item), item: t.Put.Item }];
        const w = t.Update ?? t.Delete;
        return w ? [{ table: w.TableName, key: w.Key }] : [];
      });
    case 'BatchWriteItem':
      return Object.entries(body.RequestItems as Record<string, Record<string, any>[]>).flatMap(([table, list]) =>
        list.map((r) => (r.PutRequest ? { table, key: keyOf(r.PutRequest.Item), item: r.PutRequest.Item } : { table, key: r.DeleteRequest.Key })),
      );
    default:
      return [];
  }
}

/** `HOST#h-abc/CERT#2030-...` → `HOST/CERT`: the kind of item, without ids. */
function kindOf(key: WireItem): string {
  const part = (v: WireItem[string] | undefined) => String(v?.S ?? '').split('#')[0];
  return `${part(key.pk)}/${part(key.sk)}`;
}
