/**
 * One port for HTTP/1.1 and HTTP/2. Plain HTTP: HTTP/2 cleartext with prior knowledge (h2c).
 * Node 20's `http2.createServer({ allowHTTP1 })` falls back to HTTP/1 only after TLS ALPN, never
 * on a cleartext socket, so this server sniffs the first bytes of each connection: the HTTP/2
 * connection preface goes to an `http2` compat server, anything else to the `http.Server` with
 * its parser protections (431 on oversized headers, headers timeout, smuggling 400s). With TLS,
 * ALPN offers `h2` and `http/1.1` and the negotiated protocol picks the server; HTTP/1.1 stays on
 * the `https.Server` and its parser (not http2's allowHTTP1 fallback). Both protocols drive the
 * same request handler (Fastify's, which supports both req/res kinds).
 *
 * The listening server is the `http.Server` / `https.Server`: `address()`, `maxConnections`
 * (counts both protocols: it is enforced at accept), the 'upgrade' event (WebSockets are
 * HTTP/1.1) and `close()` behave as before. Closing also sends GOAWAY to every HTTP/2 session
 * (in-flight streams finish, no new ones start) and drops connections that have not sent a byte.
 */
import http, { type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** HTTP/1 connection-specific headers: forbidden in HTTP/2 (Node throws on respond). */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
]);

/**
 * The compat response with HTTP/1-only headers dropped rather than thrown on at writeHead: code
 * written for HTTP/1 (a relay copying upstream headers, http-proxy) stays protocol-safe.
 */
export class H2Response extends http2.Http2ServerResponse {
  override setHeader(name: string, value: number | string | readonly string[]): void {
    if (!CONNECTION_HEADERS.has(name.toLowerCase())) super.setHeader(name, value);
  }

  override appendHeader(name: string, value: string | string[]): void {
    if (!CONNECTION_HEADERS.has(name.toLowerCase())) super.appendHeader(name, value);
  }

  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders): this;
  override writeHead(statusCode: number, statusMessage: string, headers?: OutgoingHttpHeaders): this;
  override writeHead(
    statusCode: number,
    messageOrHeaders?: string | OutgoingHttpHeaders,
    maybeHeaders?: OutgoingHttpHeaders,
  ): this {
    const headers = typeof messageOrHeaders === 'string' ? maybeHeaders : messageOrHeaders;
    if (headers === undefined) return super.writeHead(statusCode);
    const kept: Record<string, OutgoingHttpHeader> = {};
    for (const [name, value] of Object.entries(headers))
      if (value !== undefined && !CONNECTION_HEADERS.has(name.toLowerCase())) kept[name] = value;
    return super.writeHead(statusCode, kept);
  }
}
// HTTP/1 code checks `res.destroyed` (a Writable property the compat response lacks at runtime).
Object.defineProperty(H2Response.prototype, 'destroyed', {
  get(this: H2Response): boolean {
    return this.stream.destroyed;
  },
});

export interface DualProtocolOptions {
  /** Options of the HTTP/1.1 server (maxHeaderSize, requireHostHeader, ...). */
  http: http.ServerOptions;
  /** Accept HTTP/2: h2c on plain HTTP, ALPN `h2` with TLS; false = HTTP/1.1 only. */
  h2c: boolean;
  /** Serve HTTPS (HTTP/1.1 and, when `h2c`, HTTP/2 chosen by ALPN). */
  tls?: { cert: string | Buffer; key: string | Buffer } | null;
  /** Time for headers (HTTP/1) and for a new connection's first bytes (either protocol). */
  headersTimeout: number;
  /** Time to receive a whole request (HTTP/1 request, HTTP/2 stream's headers and body); 0 = none. */
  requestTimeout: number;
  /** Idle HTTP/1 keep-alive; an HTTP/2 session idle this long gets GOAWAY. */
  keepAliveTimeout: number;
  /** Header block bound: HTTP/1 431, HTTP/2 stream reset (ENHANCE_YOUR_CALM) and SETTINGS advertised. */
  maxHeaderBytes: number;
  /** Header count bound for both protocols. */
  maxHeaders: number;
  /** Concurrent streams one HTTP/2 session may open. */
  maxConcurrentStreams?: number;
}

export type DualProtocolServer = (http.Server | https.Server) & {
  /** GOAWAY to every HTTP/2 session (Fastify calls this on close when it exists). */
  closeHttp2Sessions(): void;
};

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
type H2Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/**
 * Server for Fastify's `serverFactory`: HTTP/1.1 and, when `h2c`, HTTP/2 (prior knowledge on plain
 * HTTP, ALPN `h2` with TLS, where the negotiated protocol picks the server and nothing is sniffed).
 */
export function createDualProtocolServer(handler: Handler, opts: DualProtocolOptions): DualProtocolServer {
  const tls = opts.tls ?? null;
  const server = tls
    ? https.createServer(
        { ...opts.http, ...tls, ...(opts.h2c ? { ALPNProtocols: ['h2', 'http/1.1'] } : {}) },
        handler,
      )
    : http.createServer(opts.http, handler);
  server.headersTimeout = opts.headersTimeout;
  server.requestTimeout = opts.requestTimeout;
  server.keepAliveTimeout = opts.keepAliveTimeout;
  server.maxHeadersCount = opts.maxHeaders;
  if (!opts.h2c) return Object.assign(server, { closeHttp2Sessions: () => {} });

  // Fastify's handler reads either kind of req/res (it branches on httpVersionMajor itself).
  const h2 = http2.createServer(
    {
      settings: {
        maxHeaderListSize: opts.maxHeaderBytes,
        maxConcurrentStreams: opts.maxConcurrentStreams ?? 100,
      },
      // Pseudo-headers (:method, :path, :scheme, :authority) count as entries.
      maxHeaderListPairs: opts.maxHeaders + 4,
      Http2ServerResponse: H2Response,
    },
    handler as unknown as H2Handler,
  );
  const sessions = new Set<ServerHttp2Session>();
  let closing = false;

  // Malformed frames end the session (Node sends GOAWAY); nothing to do but not crash.
  h2.on('sessionError', () => {});
  h2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (opts.keepAliveTimeout > 0) session.setTimeout(opts.keepAliveTimeout, () => session.close());
    if (closing) session.close();
  });
  if (opts.requestTimeout > 0)
    h2.on('stream', (stream: ServerHttp2Stream) => {
      if (stream.endAfterHeaders) return;
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), opts.requestTimeout);
      timer.unref();
      const clear = (): void => clearTimeout(timer);
      stream.once('end', clear);
      stream.once('close', clear);
    });

  const sniffing = new Set<Socket>();
  if (tls) routeByAlpn(server, h2);
  else routeByPreface(server, h2, sniffing, opts.headersTimeout);

  const closeHttp2Sessions = (): void => {
    closing = true;
    for (const session of sessions) session.close();
  };
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  // http.Server.close() calls closeIdleConnections() itself: both reach HTTP/2 and silent sockets.
  server.closeIdleConnections = (): void => {
    closeIdle();
    for (const socket of sniffing) socket.destroy();
    closeHttp2Sessions();
  };
  server.closeAllConnections = (): void => {
    closeAll();
    for (const socket of sniffing) socket.destroy();
    closing = true;
    for (const session of sessions) session.destroy();
  };
  return Object.assign(server, { closeHttp2Sessions });
}

/** TLS: ALPN already chose the protocol; https.Server serves HTTP/1.1 from 'secureConnection'. */
function routeByAlpn(server: http.Server | https.Server, h2: http2.Http2Server): void {
  const http1 = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else for (const listener of http1) listener.call(server, socket);
  });
}

/**
 * Plain HTTP: the first bytes decide. The HTTP/2 preface goes to the HTTP/2 server, anything else
 * (as soon as it differs from the preface) to the HTTP/1 parser, with the bytes put back first.
 * A connection that sends nothing within `timeout` is closed (no parser's timer covers it yet).
 */
function routeByPreface(
  server: http.Server | https.Server,
  h2: http2.Http2Server,
  sniffing: Set<Socket>,
  timeout: number,
): void {
  const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    sniffing.add(socket);
    let seen: Buffer | null = null;
    const timer = setTimeout(() => socket.destroy(), timeout);
    timer.unref();
    const stop = (): void => {
      clearTimeout(timer);
      sniffing.delete(socket);
      socket.off('data', onData);
      socket.off('error', onGone);
      socket.off('close', onGone);
    };
    const onGone = (): void => {
      stop();
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const h2Prefix = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2Prefix && n < PREFACE.length) return;
      stop();
      socket.pause();
      socket.unshift(seen);
      if (h2Prefix) {
        // Node's HTTP/2 session reads bytes already buffered on the socket before its own.
        h2.emit('connection', socket);
      } else {
        for (const listener of http1) listener.call(server, socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.once('error', onGone);
    socket.once('close', onGone);
  });
}
