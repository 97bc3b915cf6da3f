// The cross-cutting chain, written once in a transport-neutral form. A Call is what every
// transport can produce (method descriptor, request headers, decoded message, abort signal); a
// Middleware wraps the next step. methodRunners() puts the chain around each handler once;
// bindRunners() serves the runners through connect-node, and the gRPC fast path (grpc-fast.ts)
// builds the same Call from an HTTP/2 stream and calls the same runner.
import type { DescMethod, DescService, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ApiKeyScope } from "../tenants/tenant.entity.js";

/** What a session token (CustomerService.CreateSessionToken) may act on. */
export interface SessionGrant {
  readonly id: string;
  /** The one customer it acts for; null until its CreateCustomer. */
  readonly customerId: string | null;
  /** Browser origins allowed to use it; empty = the tenant's CORS origins. */
  readonly allowedOrigins: readonly string[];
}

/** Who is calling, as established by the auth middleware. A session token is a tenant principal
 * (its tenant, the API key that minted it) restricted by `session` (server/session-guard.ts). */
export type Principal =
  | { readonly kind: "admin" }
  | {
      readonly kind: "tenant";
      readonly tenantId: string;
      readonly apiKeyId: string;
      readonly scopes: readonly ApiKeyScope[];
      readonly session?: SessionGrant;
    };

/** The client's address, put in the handler context by the transport (routes.ts). */
export const PEER_ADDRESS = createContextKey<string>("", { description: "client address" });

export interface Call {
  readonly method: DescMethod;
  readonly header: CallHeaders;
  readonly message: Message;
  /** Aborted when the client goes away, its deadline passes, or the server's max deadline. On
   * the fast paths a getter of `cancel.signal`: the AbortController is made when first read. */
  signal: AbortSignal;
  /** The call's cancellation when the transport owns it (the fast paths): the deadline
   * middleware listens to it and cancels it at the server's ceiling, with no AbortController or
   * second signal per call (and does not assign `signal`). */
  readonly cancel?: CallCancel;
  /** Set by the auth middleware; handlers of authenticated services can rely on it. */
  principal: Principal | undefined;
  /** The client's IP address ("" if the transport does not know it). */
  readonly peer: string;
  /** The call's deadline (epoch ms): the client's, when it sent one, then (deadline middleware,
   * unary calls) the earlier of that and the server's ceiling. Pass it to Scopes transactions. */
  deadline?: number;
}

export type Next = (call: Call) => Promise<unknown>;
export type Middleware = (call: Call, next: Next) => Promise<unknown>;

/** Composes middlewares (first = outermost) around a final step. */
export function compose(middlewares: readonly Middleware[], last: Next): Next {
  return middlewares.reduceRight<Next>((next, mw) => (call) => mw(call, next), last);
}

/** One handler per RPC: the decoded request plus the Call (for the principal, signal). A
 * server-streaming handler returns an async iterable of response messages. */
export type UnaryHandlers<S extends DescService> = {
  [K in keyof ServiceImpl<S>]: (
    request: Parameters<ServiceImpl<S>[K]>[0],
    call: Call,
  ) => ReturnType<ServiceImpl<S>[K]>;
};

/** Maps an error raised while a stream is already flowing (the chain only sees stream setup). */
export type StreamErrorMapper = (err: unknown, call: Call) => unknown;

/** One RPC with the chain around its handler, ready for any transport: `run` resolves with the
 * response message (unary) or an async iterable of them (server streaming), after the chain. */
export interface MethodRunner {
  readonly method: DescMethod;
  run(call: Call): Promise<unknown>;
  /** Maps an error raised while the stream is flowing (after `run` resolved). */
  readonly mapStreamError: StreamErrorMapper;
}

/** The runners of a service whose RPCs are unary or server-streaming. */
export function methodRunners<S extends DescService>(
  service: S,
  handlers: UnaryHandlers<S>,
  chain: readonly Middleware[],
  mapStreamError: StreamErrorMapper = (err) => err,
): MethodRunner[] {
  return service.methods.map((method) => {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${method.parent.typeName}/${method.name}: only unary and server-streaming RPCs are supported`);
    }
    const handler = (handlers as unknown as Record<string, (req: Message, call: Call) => unknown>)[method.localName];
    if (handler === undefined) throw new Error(`no handler for ${method.parent.typeName}/${method.name}`);
    // Not async: the handlers are, and an async wrapper returning their promise cost two more
    // microtask turns per call (resolving a promise with a promise).
    return { method, run: compose(chain, (call) => handler(call.message, call) as Promise<unknown>), mapStreamError };
  });
}

/**
 * Registers runners with a Connect router (every protocol connect-node serves). For a stream,
 * the chain (auth, validation, ...) runs before the first message; errors raised while
 * iterating go through the runner's `mapStreamError`.
 */
export function bindRunners(router: ConnectRouter, service: DescService, runners: readonly MethodRunner[]): void {
  const impl: Record<string, (req: Message, ctx: HandlerContext) => unknown> = {};
  for (const { method, run, mapStreamError } of runners) {
    const callOf = (message: Message, ctx: HandlerContext): Call => ({
      method,
      header: ctx.requestHeader,
      message,
      signal: ctx.signal,
      principal: undefined,
      peer: ctx.values.get(PEER_ADDRESS),
      ...deadlineOf(ctx.timeoutMs()),
    });
    impl[method.localName] =
      method.methodKind === "unary"
        ? (message, ctx) => run(callOf(message, ctx))
        : async function* (message: Message, ctx: HandlerContext) {
            const call = callOf(message, ctx);
            const stream = (await run(call)) as AsyncIterable<unknown>;
            try {
              yield* stream;
            } catch (err) {
              throw mapStreamError(err, call);
            }
          };
  }
  router.service(service, impl as unknown as ServiceImpl<DescService>);
}

const deadlineOf = (timeoutMs: number | undefined) => (timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs });

/**
 * The tenant of an authenticated call and the actor for its audit trail ("api_key:<id>" or
 * "session_token:<id>", the call's request_id). A programming error if the auth middleware did
 * not run.
 */
export function tenantCall(call: Call, requestId = ""): { tenantId: string; actor: { id: string; requestId: string | null } } {
  const p = call.principal;
  if (p?.kind !== "tenant") throw new Error(`${call.method.name}: no tenant principal on the call`);
  return { tenantId: p.tenantId, actor: { id: p.session ? `session_token:${p.session.id}` : `api_key:${p.apiKeyId}`, requestId: requestId === "" ? null : requestId.toLowerCase() } };
}

// --- Shared by the transports that build a Call from a Node request (grpc-fast.ts, connect-fast.ts)

/** What the chain reads of a call's request headers; a fetch Headers is one. */
export interface CallHeaders {
  /** The value (several joined with ", "), or null; names are case-insensitive. */
  get(name: string): string | null;
  /** The lowercase names, sorted. */
  keys(): IterableIterator<string>;
}

/**
 * A Node request's headers (HTTP/2 pseudo-headers left out) read in place. The fast paths used
 * to copy them into a fetch Headers on every call, which validates and stores each header
 * (about 1 % of a GetCustomer's CPU in a profile) while the chain reads two or three of them.
 * Node has already parsed and validated them and lowercased their names.
 */
class NodeRequestHeaders implements CallHeaders {
  constructor(private readonly raw: NodeJS.Dict<string | string[]>) {}

  get(name: string): string | null {
    const key = name.toLowerCase();
    if (key.startsWith(":")) return null;
    const value = this.raw[key];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  keys(): IterableIterator<string> {
    return Object.keys(this.raw)
      .filter((k) => !k.startsWith(":") && this.raw[k] !== undefined)
      .sort()
      [Symbol.iterator]();
  }
}

/** A Node request's headers as the Call's headers. */
export function callHeaders(headers: NodeJS.Dict<string | string[]>): CallHeaders {
  return new NodeRequestHeaders(headers);
}

/**
 * A fast-path call's cancellation (client gone, client deadline, server ceiling) without an
 * AbortController per call: an AbortController with an `abort` listener added and removed cost
 * ≈ 7 µs per call in a micro-benchmark (EventTarget machinery), this ≈ 0.4 µs. The first abort
 * wins; `signal` makes a real AbortSignal only when something reads it (event streams, the error
 * mapper), already aborted with the same reason if the call was.
 */
export class CallCancel {
  private controller: AbortController | undefined;
  private listeners: Array<(reason: unknown) => void> | undefined;
  private why: unknown;
  aborted = false;

  get reason(): unknown {
    return this.why;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.why = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const l of listeners) l(reason);
  }

  /** Calls `listener` once on abort (at once when already aborted); returns its removal. */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.aborted) {
      listener(this.why);
      return () => undefined;
    }
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners!.splice(i, 1);
    };
  }
}

/** The reason a fast path cancels a call with when its client goes away. */
export function clientCancelled(): ConnectError {
  return new ConnectError("the client cancelled the call", Code.Canceled);
}

/** A call a fast path serves: its `signal` is its CallCancel's, made only if something reads it
 * (a plain GetCustomer never does). */
export class TransportCall implements Call {
  principal: Principal | undefined = undefined;
  deadline?: number;

  constructor(
    readonly method: DescMethod,
    readonly header: CallHeaders,
    readonly message: Message,
    readonly peer: string,
    readonly cancel: CallCancel,
    deadline: number | undefined,
  ) {
    if (deadline !== undefined) this.deadline = deadline;
  }

  get signal(): AbortSignal {
    return this.cancel.signal;
  }
}

/** A fast path's bound on a call by the client's own deadline; see clientDeadline. */
export interface ClientDeadline {
  /** `work`, or DEADLINE_EXCEEDED once the client's deadline passed, whichever comes first.
   * Without a client deadline, `work` itself: no timer, no race, nothing allocated per call. */
  within<T>(work: Promise<T>): Promise<T>;
  clear(): void;
}

const NO_CLIENT_DEADLINE: ClientDeadline = { within: (work) => work, clear: () => undefined };

/**
 * The client's own deadline (grpc-timeout / connect-timeout-ms) for a call a transport serves:
 * `within` rejects with DEADLINE_EXCEEDED and `cancel` is aborted once `timeoutMs` passed
 * (clamped to the server's ceiling plus 1 s: the deadline middleware answers at the ceiling).
 * `clear()` when the call is over.
 */
export function clientDeadline(timeoutMs: number | undefined, maxTimeoutMs: number, cancel: CallCancel): ClientDeadline {
  if (timeoutMs === undefined) return NO_CLIENT_DEADLINE;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new ConnectError("the client's deadline passed", Code.DeadlineExceeded);
      cancel.abort(err);
      reject(err);
    }, Math.min(timeoutMs, maxTimeoutMs + 1_000));
  });
  expired.catch(() => undefined);
  return { within: (work) => Promise.race([work, expired]), clear: () => clearTimeout(timer) };
}
