import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, Socket } from 'node:net';
import { DrainOutcome } from '../../core/lifecycle/drain-outcome';
import { isOpsPath } from '../../core/lifecycle/lifecycle.service';

export type DrainCounts = Record<DrainOutcome, number> & {
  /** Keep-alive connections closed between requests. */
  idleClosed: number;
  /** Connections closed without having sent a request. */
  unusedClosed: number;
};

/**
 * A connection that has not sent its first byte yet is kept this long after it was accepted
 * before the drain closes it: its client's first bytes travel right behind the handshake, so
 * this covers network latency and a lost packet's retransmission (TCP's minimum RTO is 200 ms),
 * while a pre-opened connection that never sends holds the exit back by at most this much.
 */
export const FIRST_REQUEST_GRACE_MS = 1000;
/**
 * Node's listen() backlog: no more connections than this can be waiting when accepting stops,
 * and the accept queue is first in, first out, so after this many accepts every one of them
 * has been taken, even if a client keeps connecting.
 */
const LISTEN_BACKLOG = 511;
/** How often the drain looks for connections it may close while requests are still running. */
const CHECK_INTERVAL_MS = 50;

interface Connection {
  socket: Socket;
  acceptedAt: number;
  /** Requests this connection has started (0: it has not sent one yet). */
  requests: number;
  /** The answer being written, while a request is in progress. */
  response?: ServerResponse;
  /** socket.bytesRead when the connection last became idle: more means a request is arriving. */
  readWhenIdle: number;
  closing: boolean;
}

/**
 * Tracks every connection of an HTTP server so that a drain loses no request the server has
 * accepted. Closing the listening socket resets the connections still waiting in the kernel's
 * accept queue, and a busy main thread leaves many there: libuv accepts one connection per
 * event-loop turn, and a turn that parses a large JSON body takes tens of milliseconds. Here:
 * - stopAccepting() takes every connection waiting in the accept queue, then closes the
 *   listening socket only (net's close: http's also destroys every keep-alive connection
 *   between requests at once, without looking whether its next request is on its way);
 * - every request in progress, or arriving on a connection already accepted, is answered with
 *   `Connection: close`;
 * - connections idle between requests, and those that never send one, are closed with a FIN
 *   once a poll phase has shown nothing arriving on them;
 * - settle() resolves once nothing is left to answer; closeAll() cuts what remains.
 * Model-bound requests (not /health, /metrics, /docs) that end during the drain are counted by
 * outcome.
 */
export class ConnectionDrain {
  private readonly connections = new Map<Socket, Connection>();
  private accepted = 0;
  private draining = false;
  /** Model-bound answers not counted yet (counted once, when they end or are cut). */
  private readonly countable = new WeakSet<ServerResponse>();
  private onOutcome: (outcome: DrainOutcome) => void = () => undefined;
  private wake: () => void = () => undefined;
  readonly counts: DrainCounts = {
    answered: 0,
    refused: 0,
    client_closed: 0,
    cut: 0,
    idleClosed: 0,
    unusedClosed: 0,
  };

  constructor(
    private readonly server: Server,
    private readonly now: () => number = () => performance.now(),
  ) {
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
  }

  /** Requests whose answer is not finished yet. */
  get inflight(): number {
    let count = 0;
    for (const connection of this.connections.values()) if (connection.response) count++;
    return count;
  }

  /** Connections open now. */
  get open(): number {
    return this.connections.size;
  }

  /**
   * From now on every answer not yet started says `Connection: close`, and model-bound requests
   * that end are counted through `onOutcome`.
   */
  begin(onOutcome: (outcome: DrainOutcome) => void = () => undefined): void {
    this.draining = true;
    this.onOutcome = onOutcome;
    for (const { response } of this.connections.values()) {
      if (response && !response.headersSent) response.setHeader('Connection', 'close');
    }
  }

  /**
   * Accepts what is waiting in the accept queue, then closes the listening socket (new
   * connections are refused by the kernel from then on). Loops one event-loop turn at a time
   * until a turn accepts nothing, or LISTEN_BACKLOG connections were accepted, or `budgetMs`
   * passed (so a client that keeps connecting cannot hold the listener open).
   */
  stopAccepting(budgetMs: number): Promise<void> {
    const until = this.now() + budgetMs;
    const first = this.accepted;
    return new Promise((resolve) => {
      let seen = -1;
      const turn = () => {
        const more = this.accepted !== seen && this.accepted - first < LISTEN_BACKLOG;
        if (more && this.now() < until) {
          seen = this.accepted;
          setImmediate(turn);
          return;
        }
        NetServer.prototype.close.call(this.server);
        resolve();
      };
      setImmediate(turn);
    });
  }

  /**
   * Closes connections as they fall idle and resolves true once every connection is closed or
   * closing, or false when `budgetMs` passes first. Call after stopAccepting().
   */
  settle(budgetMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (drained: boolean) => {
        if (done) return;
        done = true;
        clearInterval(interval);
        clearTimeout(timer);
        this.wake = () => undefined;
        resolve(drained);
      };
      // After a poll phase (setImmediate), so that bytes already received have been read and
      // a request that has arrived is seen as one, not as silence.
      let scheduled = false;
      const check = () => {
        if (scheduled) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          if (this.closeQuiet()) finish(true);
        });
      };
      this.wake = check;
      const interval = setInterval(check, CHECK_INTERVAL_MS);
      const timer = setTimeout(() => finish(false), budgetMs);
      check();
    });
  }

  /** Destroys every connection left; requests still unanswered are counted as cut. */
  closeAll(): void {
    for (const { socket, response } of this.connections.values()) {
      if (response && this.countable.delete(response)) this.count('cut');
      socket.destroy();
    }
  }

  private onConnection(socket: Socket): void {
    this.accepted++;
    const connection: Connection = {
      socket,
      acceptedAt: this.now(),
      requests: 0,
      readWhenIdle: 0,
      closing: false,
    };
    this.connections.set(socket, connection);
    socket.once('close', () => {
      this.connections.delete(socket);
      this.wake();
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.connections.get(req.socket);
    if (!connection) return;
    connection.requests++;
    connection.response = res;
    if (this.draining && !res.headersSent) res.setHeader('Connection', 'close');
    // Idle again once the answer is written and the request's body is read to its end (Node
    // reads the rest of a body the handler did not want, after the answer).
    const idle = () => {
      if (connection.response === res || !req.complete) return;
      connection.readWhenIdle = connection.socket.bytesRead;
      this.wake();
    };
    res.once('finish', () => {
      if (connection.response === res) connection.response = undefined;
      idle();
    });
    req.once('end', idle);
    if (!isOpsPath((req.url ?? '/').split('?')[0])) this.countable.add(res);
    res.once('close', () => {
      if (connection.response === res) connection.response = undefined;
      if (this.countable.delete(res) && this.draining) this.count(this.outcomeOf(res));
      this.wake();
    });
  }

  private outcomeOf(res: ServerResponse): DrainOutcome {
    if (!res.writableFinished) return 'client_closed';
    return res.statusCode === 503 ? 'refused' : 'answered';
  }

  private count(outcome: DrainOutcome): void {
    this.counts[outcome]++;
    this.onOutcome(outcome);
  }

  /**
   * Closes (FIN, then close) each connection with nothing to answer and nothing arriving;
   * returns true when no connection is left but closing ones.
   */
  private closeQuiet(): boolean {
    const now = this.now();
    let busy = false;
    for (const connection of this.connections.values()) {
      const { socket } = connection;
      // Node ends the socket itself after an answer that said Connection: close.
      if (connection.closing || socket.writableEnded || socket.destroyed) continue;
      const arriving = socket.bytesRead > connection.readWhenIdle;
      const waitingForFirst =
        connection.requests === 0 && now - connection.acceptedAt < FIRST_REQUEST_GRACE_MS;
      if (connection.response || arriving || waitingForFirst) {
        busy = true;
        continue;
      }
      connection.closing = true;
      if (connection.requests > 0) this.counts.idleClosed++;
      else this.counts.unusedClosed++;
      socket.destroySoon();
    }
    return !busy;
  }
}
