// The gRPC fast path: plain gRPC (application/grpc, application/grpc+proto) over HTTP/2 served
// straight from node:http2 streams, for the RPCs of our own services. Internal callers use this
// path, and connect-node's generic pipeline costs ≈ 4× the CPU of a lean gRPC server on it
// (docs/performance.md). The same MethodRunners (logging, errors, deadline, auth, validation,
// handler) run here as under connect-node: one chain, two transports.
//
// Everything else on an HTTP/2 connection — the Connect protocol, gRPC-Web, gRPC+JSON, health and
// reflection, unknown methods — returns `false` and is served by connect-node as before.
//
// Protocol (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): one length-prefixed
// request message; response headers, length-prefixed messages, then trailers with grpc-status,
// grpc-message and grpc-status-details-bin (google.rpc.Status with the details, encoded by
// connect's own setTrailerStatus so both transports send byte-identical errors).
import http2 from "node:http2";
import { gunzipSync, inflateSync } from "node:zlib";
import { fromBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { encodeReply } from "./encode-once.js";
import { createMessage } from "./proto-create.js";
import { CallCancel, callHeaders, clientCancelled, clientDeadline, TransportCall, type ClientDeadline, type Call, type MethodRunner } from "./pipeline.js";

const GRPC_CONTENT_TYPE = /^application\/grpc(\+proto)?(;|$)/i;

export interface FastPathOptions {
  readonly maxMessageBytes: number;
  /** The server's deadline ceiling: a longer grpc-timeout is clamped to it. */
  readonly maxTimeoutMs: number;
  /** Turns anything thrown outside the chain into a ConnectError (logs what is unexpected). */
  readonly toConnectError: (err: unknown, call?: Call) => ConnectError;
}

/** Returns a stream handler; it answers false for a stream it does not serve. */
export function grpcFastPath(
  runners: readonly MethodRunner[],
  options: FastPathOptions,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const byPath = new Map(runners.map((r) => [`/${r.method.parent.typeName}/${r.method.name}`, r]));
  return (stream, headers) => {
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || typeof contentType !== "string" || !GRPC_CONTENT_TYPE.test(contentType)) return false;
    const runner = byPath.get(headers[":path"] ?? "");
    if (runner === undefined) return false;
    void serve(stream, headers, runner, options);
    return true;
  };
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function trailersOf(err: ConnectError | undefined): http2.OutgoingHttpHeaders {
  if (err === undefined) return { "grpc-status": "0" };
  const out: http2.OutgoingHttpHeaders = {};
  setTrailerStatus(new Headers(), err).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

class Exchange {
  private responded = false;
  private finished = false;

  constructor(private readonly stream: http2.ServerHttp2Stream) {}

  get done(): boolean {
    return this.finished || this.stream.destroyed || this.stream.closed;
  }

  /** Response headers (once), before the first message. */
  start(): void {
    if (this.responded || this.done) return;
    this.responded = true;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc+proto", "grpc-accept-encoding": "identity,gzip,deflate" }, { waitForTrailers: true });
    this.stream.once("wantTrailers", () => this.stream.sendTrailers(this.trailers));
  }

  private trailers: http2.OutgoingHttpHeaders = { "grpc-status": "0" };

  /** Writes one message; resolves when the stream can take more (back-pressure). */
  async send(bytes: Uint8Array): Promise<void> {
    this.start();
    if (this.done) return;
    if (!this.stream.write(frame(bytes))) {
      await new Promise<void>((resolve) => {
        const go = () => {
          this.stream.off("drain", go);
          this.stream.off("close", go);
          resolve();
        };
        this.stream.on("drain", go);
        this.stream.on("close", go);
      });
    }
  }

  /** Ends the call with OK or an error (trailers-only when nothing was sent yet). */
  finish(err?: ConnectError): void {
    if (this.done) return;
    this.finished = true;
    const trailers = trailersOf(err);
    if (!this.responded) {
      this.responded = true;
      this.stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...trailers }, { endStream: true });
      return;
    }
    this.trailers = trailers;
    this.stream.end();
  }
}

/** Reads the whole request body, bounded by the message limit. */
function readBody(stream: http2.ServerHttp2Stream, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit + 5) {
        cleanup();
        stream.resume(); // drain and drop the rest
        reject(new ConnectError(`message larger than ${limit} bytes`, Code.ResourceExhausted));
        return;
      }
      chunks.push(chunk);
    };
    // Listeners stay after the end (removing them on every call showed in the profile); the
    // stream's later close then settles nothing and builds no error (a ConnectError's stack
    // trace cost ≈ 25 µs per UpdateCustomer in a profile).
    let ended = false;
    const onEnd = () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onClose = () => {
      if (ended) return;
      cleanup();
      reject(new ConnectError("the client closed the stream", Code.Canceled));
    };
    const cleanup = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("close", onClose);
    };
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("close", onClose);
  });
}

/** The one request message of a unary or server-streaming call. */
function decodeRequest(body: Buffer, schema: DescMessage, encoding: string | undefined, limit: number): Message {
  if (body.length < 5) throw new ConnectError("the request has no complete gRPC message frame", Code.InvalidArgument);
  const compressed = (body[0]! & 1) === 1;
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) {
    throw new ConnectError(`the request frame declares ${length} bytes but carries ${body.length - 5}`, Code.InvalidArgument);
  }
  let bytes: Uint8Array = body.subarray(5);
  if (compressed) {
    const options = { maxOutputLength: limit };
    try {
      if (encoding === "gzip") bytes = gunzipSync(bytes, options);
      else if (encoding === "deflate") bytes = inflateSync(bytes, options);
      else throw new ConnectError(`unsupported grpc-encoding "${encoding ?? "identity"}" (identity, gzip, deflate)`, Code.Unimplemented);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      // zlib's maxOutputLength: a message over the limit once inflated (as uncompressed ones are).
      if ((err as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new ConnectError(`message larger than ${limit} bytes after decompression`, Code.ResourceExhausted);
      }
      throw new ConnectError(`the request is not valid ${encoding} data`, Code.InvalidArgument);
    }
  }
  try {
    return fromBinary(schema, bytes);
  } catch {
    throw new ConnectError(`the request is not a valid ${schema.typeName} message`, Code.InvalidArgument);
  }
}

async function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, runner: MethodRunner, o: FastPathOptions): Promise<void> {
  const exchange = new Exchange(stream);
  const cancel = new CallCancel();
  const onClose = () => cancel.abort(clientCancelled());
  stream.once("close", onClose);
  stream.on("error", () => undefined); // a reset stream is reported through "close"
  let client: ClientDeadline | undefined;
  let call: Call | undefined;
  const started = Date.now();
  try {
    const timeout = parseTimeout(headers["grpc-timeout"] === undefined ? null : String(headers["grpc-timeout"]), Number.MAX_SAFE_INTEGER);
    if (timeout.error) throw timeout.error;
    client = clientDeadline(timeout.timeoutMs, o.maxTimeoutMs, cancel);
    const body = await client.within(readBody(stream, o.maxMessageBytes));
    const encoding = headers["grpc-encoding"];
    const message = decodeRequest(body, runner.method.input, typeof encoding === "string" ? encoding : undefined, o.maxMessageBytes);
    call = new TransportCall(
      runner.method,
      callHeaders(headers),
      message,
      stream.session?.socket?.remoteAddress ?? "",
      cancel,
      timeout.timeoutMs === undefined ? undefined : started + timeout.timeoutMs,
    );
    const result = await client.within(runner.run(call));
    if (runner.method.methodKind === "unary") {
      await exchange.send(encodeResponse(runner.method.output, result, o.maxMessageBytes));
    } else {
      exchange.start(); // streams answer headers at once, like connect-node
      try {
        for await (const item of result as AsyncIterable<unknown>) {
          if (exchange.done) break;
          await exchange.send(encodeResponse(runner.method.output, item, o.maxMessageBytes));
        }
      } catch (err) {
        throw runner.mapStreamError(err, call);
      }
    }
    exchange.finish();
  } catch (err) {
    exchange.finish(o.toConnectError(err, call));
  } finally {
    client?.clear();
    stream.off("close", onClose);
  }
}

function encodeResponse(schema: DescMessage, value: unknown, limit: number): Uint8Array {
  const bytes = encodeReply(schema, createMessage(schema, value as never));
  if (bytes.length > limit) throw new ConnectError(`the response is larger than ${limit} bytes`, Code.ResourceExhausted);
  return bytes;
}
