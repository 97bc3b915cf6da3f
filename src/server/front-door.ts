// ONE cleartext port for every caller: the first bytes of each connection decide. The HTTP/2
// connection preface goes to an http2 server (gRPC, Connect and gRPC-Web over h2c); anything
// else to an http1 server (Connect, gRPC-Web, /metrics-style GETs). Both serve the same handler.
// (http2's allowHTTP1 only works with TLS/ALPN, hence the sniffing.)
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;
/** Takes an HTTP/2 stream it serves itself (true), or leaves it to the request handler (false). */
type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A connection that has not sent enough to be classified by then is closed. */
const SNIFF_TIMEOUT_MS = 10_000;

export interface FrontDoor {
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, lets in-flight requests finish for up to graceMs, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

export function createFrontDoor(handler: Handler, streamHandler?: StreamHandler): FrontDoor {
  const h1 = http.createServer({ keepAliveTimeout: 65_000, headersTimeout: 30_000, requestTimeout: 0 }, handler);
  const h2 = http2.createServer({
    // Room for a maximal message plus framing in one stream's window.
    settings: { maxConcurrentStreams: 1000, initialWindowSize: 1 << 20 },
    maxSessionMemory: 64,
    maxSendHeaderBlockLength: 64 * 1024,
  });
  // No 'request' listener: each stream goes to `streamHandler` first (the gRPC fast path), and
  // only the others get the compatibility request/response pair connect-node reads — built the
  // way node's own onServerStream builds them (lib/internal/http2/compat.js, Node 20).
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    if (streamHandler?.(stream, headers)) return;
    handler(new http2.Http2ServerRequest(stream, headers, undefined as never, rawHeaders), new http2.Http2ServerResponse(stream));
  });
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });

  const door = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const n = Math.min(buffered.length, PREFACE.length);
      const isH2 = buffered.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && buffered.length < PREFACE.length) return; // need more bytes to decide
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeListener("error", onEarlyError);
      socket.pause();
      socket.unshift(buffered);
      if (isH2) {
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    const onEarlyError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onEarlyError);
    socket.once("close", () => clearTimeout(timer));
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        door.once("error", reject);
        door.listen(port, host, () => {
          door.off("error", reject);
          resolve((door.address() as net.AddressInfo).port);
        });
      });
    },
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => door.close(() => resolve()));
      h1.closeIdleConnections();
      for (const s of sessions) s.close(); // GOAWAY: no new streams, in-flight ones finish
      const deadline = setTimeout(() => {
        for (const s of sessions) s.destroy();
        h1.closeAllConnections();
        for (const s of sockets) s.destroy();
      }, graceMs);
      // http1 keep-alive sockets: close each once its in-flight request is answered.
      h1.on("request", (_req, res) => res.setHeader("connection", "close"));
      const idle = setInterval(() => h1.closeIdleConnections(), 50);
      await closed;
      clearTimeout(deadline);
      clearInterval(idle);
    },
  };
}
