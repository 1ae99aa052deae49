/**
 * `startDynamoDbLocal` when the port it chose is taken before java binds it (another test run, an
 * outgoing connection's ephemeral port): the real DynamoDB Local fails to bind, and the start goes
 * on with another port; a listener on the port, even one answering HTTP, is never taken for it.
 * The port picker is injected so that the first port chosen is one a listener here holds.
 */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { type DynamoDbLocal, freePort, startDynamoDbLocal } from '../../src/server/dynamodb-local';

const START_MS = 120_000;

/** A listener on 127.0.0.1 holding a port; closed after each test. */
const squatters: Server[] = [];
async function squat(server: Server): Promise<number> {
  squatters.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as { port: number }).port;
}

/** Returns `taken` first, free ports after; counts its calls. */
function pickerTakenFirst(taken: number): { pickPort: () => Promise<number>; picks: () => number } {
  let picks = 0;
  return { pickPort: async () => (picks++ === 0 ? taken : freePort()), picks: () => picks };
}

async function tableNames(endpoint: string): Promise<string[] | undefined> {
  const client = new DynamoDBClient({ endpoint });
  try {
    return (await client.send(new ListTablesCommand({}))).TableNames;
  } finally {
    client.destroy();
  }
}

describe('startDynamoDbLocal when its port is taken first', () => {
  let ddb: DynamoDbLocal | undefined;

  afterEach(async () => {
    await ddb?.stop();
    ddb = undefined;
    await Promise.all(squatters.splice(0).map((s) => new Promise((done) => s.close(done))));
  });

  test('a chosen port another process took: it starts on the next port chosen', async () => {
    const taken = await squat(createServer((socket) => socket.destroy()));
    const picker = pickerTakenFirst(taken);
    ddb = await startDynamoDbLocal({ pickPort: picker.pickPort });
    expect(picker.picks()).toBe(2);
    expect(ddb.port).not.toBe(taken);
    expect(await tableNames(ddb.endpoint)).toEqual([]);
  }, START_MS);

  test('a listener answering HTTP on the chosen port is not taken for DynamoDB Local', async () => {
    // Answers any request at once, as DynamoDB Local would, with a table that it would not have.
    const squatter = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ TableNames: ['squatter'] }));
    });
    const taken = await squat(squatter);
    expect(await tableNames(`http://127.0.0.1:${taken}`)).toEqual(['squatter']);
    ddb = await startDynamoDbLocal({ pickPort: pickerTakenFirst(taken).pickPort });
    expect(ddb.port).not.toBe(taken);
    expect(await tableNames(ddb.endpoint)).toEqual([]);
  }, START_MS);

  test("the caller's own port, taken: fails naming it, java's bind error as the cause, no other port tried", async () => {
    const taken = await squat(createServer((socket) => socket.destroy()));
    let picks = 0;
    const started = startDynamoDbLocal({ port: taken, pickPort: async () => (picks++, freePort()) });
    const err: Error = await started.then(
      () => Promise.reject(new Error('started on a taken port')),
      (e: Error) => e,
    );
    expect(err.message).toBe(`DynamoDB Local could not bind 127.0.0.1:${taken}: address already in use (exited with status 1)`);
    expect((err.cause as Error).message).toMatch(new RegExp(`Failed to bind to /127\\.0\\.0\\.1:${taken}[\\s\\S]*java\\.net\\.BindException: Address already in use`));
    expect(picks).toBe(0);
  }, START_MS);

  test('every chosen port taken: it gives up after a bounded number of ports, naming them', async () => {
    const taken = await squat(createServer((socket) => socket.destroy()));
    let picks = 0;
    const err: Error = await startDynamoDbLocal({ pickPort: async () => (picks++, taken) }).then(
      () => Promise.reject(new Error('started on a taken port')),
      (e: Error) => e,
    );
    expect(picks).toBeGreaterThan(1);
    expect(err.message).toBe(`DynamoDB Local could not bind a port: ${Array(picks).fill(taken).join(', ')} on 127.0.0.1 were each taken by another process before java bound them`);
    expect((err.cause as Error).message).toContain(`could not bind 127.0.0.1:${taken}: address already in use`);
  }, START_MS * 2);
});
