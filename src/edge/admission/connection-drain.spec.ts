import { once } from 'node:events';
import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { ConnectionDrain, FIRST_REQUEST_GRACE_MS } from './connection-drain';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Reads the whole body, then answers with its size (a 503 for /busy; /stuck never answers). */
const echoSize: Handler = (req, res) => {
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => {
    if (req.url === '/stuck') return;
    res.statusCode = req.url === '/busy' ? 503 : 200;
    res.end(String(bytes));
  });
};

async function listen(handler: Handler, now?: () => number) {
  const server = createServer(handler);
  const drain = new ConnectionDrain(server, now);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, drain, port: (server.address() as AddressInfo).port };
}

/** A raw client, so the test decides when each byte is sent and sees the server's FIN. */
async function rawClient(port: number) {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const ended = new Promise<string>((resolve, reject) => {
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
  });
  return { socket, received: () => received, ended };
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

/**
 * Clients in a thread of their own: they connect and send while this thread is blocked, the way
 * a main thread parsing other bodies leaves new connections in the accept queue, unread.
 */
const CLIENTS = `
const { workerData, parentPort } = require('node:worker_threads');
const http = require('node:http');
const { port, count, size, flag } = workerData;
let connected = 0;
const results = Array.from({ length: count }, () => new Promise((resolve) => {
  const body = Buffer.alloc(size, 'x');
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false,
    headers: { 'content-length': size } });
  req.on('response', (res) => {
    let text = '';
    res.on('data', (chunk) => (text += chunk));
    res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, text }));
  });
  req.on('error', (error) => resolve({ error: error.code }));
  req.on('socket', (socket) => socket.once('connect', () => {
    req.write(body.subarray(0, 1000), () => {
      if (++connected === count) { Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); }
      req.end(body.subarray(1000));
    });
  }));
}));
Promise.all(results).then((all) => parentPort.postMessage(all));
`;

describe(ConnectionDrain.name, () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
    server = undefined;
  });

  it('should answer every connection that was waiting in the accept queue or unread when the drain began, then refuse new ones', async () => {
    const started = await listen(echoSize);
    server = started.server;
    const { drain, port } = started;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const count = 10;
    const worker = new Worker(CLIENTS, {
      eval: true,
      workerData: { port, count, size: 300_000, flag },
    });
    const answers = once(worker, 'message');
    // This thread does nothing until every client has connected and sent its first bytes.
    expect(['ok', 'not-equal']).toContain(Atomics.wait(flag, 0, 0, 20_000));
    drain.begin();
    const stopped = drain.stopAccepting(10_000);

    const [results] = (await answers) as [
      { status?: number; connection?: string; text?: string }[],
    ];
    await worker.terminate();
    expect(results).toEqual(
      Array.from({ length: count }, () => ({ status: 200, connection: 'close', text: '300000' })),
    );
    await stopped;
    expect(await drain.settle(10_000)).toBe(true);
    expect(drain.counts).toMatchObject({ answered: count, cut: 0, client_closed: 0 });
    const refused = connect(port, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('should stop accepting after one backlog of connections while a client keeps connecting', async () => {
    const started = await listen(echoSize);
    server = started.server;
    const { drain, port } = started;
    let accepted = 0;
    server.on('connection', (socket: Socket) => {
      accepted++;
      socket.destroy();
    });
    // Connections opened much faster than one per turn of this thread's loop (which accepts
    // one per turn), from a thread of their own, each closed once established.
    const flood = new Worker(
      `const net = require('node:net');
      const { port } = require('node:worker_threads').workerData;
      let open = 0;
      const more = () => {
        for (; open < 300; open++) {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('connect', () => socket.destroy()).on('error', () => undefined);
          socket.on('close', () => open--);
        }
        setImmediate(more);
      };
      more();`,
      { eval: true, workerData: { port } },
    );
    try {
      while (accepted < 100) await new Promise((resolve) => setImmediate(resolve));
      drain.begin();
      const before = accepted;
      // The budget alone would keep it open for a minute, past the test's timeout.
      await drain.stopAccepting(60_000);
      expect(accepted - before).toBeLessThanOrEqual(511);
    } finally {
      await flood.terminate();
    }
  });

  it('should answer the first request of a connection accepted before it stopped accepting, with Connection: close', async () => {
    const started = await listen(echoSize);
    server = started.server;
    const { drain, port } = started;
    const client = await rawClient(port);
    await new Promise((resolve) => setImmediate(resolve)); // accepted
    drain.begin();
    await drain.stopAccepting(10_000);
    const settled = drain.settle(10_000);
    client.socket.write(GET('/'));
    const response = await client.ended;
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(response).toMatch(/\r\nConnection: close\r\n/i);
    expect(await settled).toBe(true);
    expect(drain.counts).toMatchObject({ answered: 1, unusedClosed: 0 });
  });

  it('should mark an answer already in progress Connection: close, and close idle keep-alive connections with a FIN', async () => {
    let release: () => void = () => undefined;
    const started = await listen((req, res) => {
      if (req.url === '/held') release = () => res.end('held');
      else res.end('ok');
    });
    server = started.server;
    const { drain, port } = started;
    const idle = await rawClient(port);
    idle.socket.write(GET('/'));
    await new Promise<void>((resolve) => idle.socket.once('data', () => resolve()));
    expect(idle.received()).toMatch(/Connection: keep-alive/i);
    const busy = await rawClient(port);
    busy.socket.write(GET('/held'));
    while (drain.inflight === 0) await new Promise((resolve) => setImmediate(resolve));

    drain.begin();
    await drain.stopAccepting(10_000);
    const settled = drain.settle(10_000);
    await idle.ended; // FIN from the server, no error
    release();
    const held = await busy.ended;
    expect(held).toMatch(/\r\nConnection: close\r\n[\s\S]*held$/i);
    expect(await settled).toBe(true);
    expect(drain.counts).toMatchObject({ answered: 1, idleClosed: 1, unusedClosed: 0 });
  });

  it('should keep a connection that has not sent anything yet for its grace period, then close it', async () => {
    let now = 0;
    const started = await listen(echoSize, () => now);
    server = started.server;
    const { drain, port } = started;
    const silent = await rawClient(port);
    await new Promise((resolve) => setImmediate(resolve)); // accepted
    drain.begin();
    await drain.stopAccepting(10_000);
    expect(await drain.settle(200)).toBe(false);
    expect(silent.socket.readyState).toBe('open');

    now = FIRST_REQUEST_GRACE_MS;
    expect(await drain.settle(10_000)).toBe(true);
    await silent.ended;
    expect(drain.counts).toMatchObject({ unusedClosed: 1, answered: 0 });
  });

  it('should count refused, client-closed and cut requests, but not probes or requests that ended before the drain', async () => {
    const started = await listen(echoSize);
    server = started.server;
    const { drain, port } = started;
    const before = await rawClient(port);
    before.socket.end(GET('/'));
    await before.ended;
    const stuck = await rawClient(port);
    stuck.socket.write(GET('/stuck'));
    const leaving = await rawClient(port);
    leaving.socket.write(GET('/stuck'));
    while (drain.inflight < 2) await new Promise((resolve) => setImmediate(resolve));

    drain.begin();
    const answer = (path: string) =>
      new Promise<number>((resolve, reject) =>
        request({ port, host: '127.0.0.1', path, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end(),
      );
    expect(await answer('/busy')).toBe(503);
    expect(await answer('/health/ready')).toBe(200);
    leaving.socket.destroy();
    await once(leaving.socket, 'close');
    await drain.stopAccepting(10_000);
    expect(await drain.settle(100)).toBe(false);
    expect(drain.inflight).toBe(1);
    drain.closeAll();
    expect(await stuck.ended).toBe(''); // closed without an answer
    expect(drain.counts).toMatchObject({ answered: 0, refused: 1, client_closed: 1, cut: 1 });
  });
});
