// The cross-cutting chain, written once in a transport-neutral form. A Call is what every
// transport can produce (method descriptor, request headers, decoded message, abort signal); a
// Middleware wraps the next step. bindUnaryService() adapts a chain + handlers to a Connect
// router; a second transport (e.g. a @grpc/grpc-js Server fed by the front door) builds the same
// Call from its own request and calls the same runner.
import type { DescMethod, DescService, Message } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";

/** Who is calling, as established by the auth middleware. */
export type Principal =
  | { readonly kind: "admin" }
  | { readonly kind: "tenant"; readonly tenantId: string; readonly apiKeyId: string };

export interface Call {
  readonly method: DescMethod;
  readonly header: Headers;
  readonly message: Message;
  /** Aborted when the client goes away, its deadline passes, or the server's max deadline. */
  signal: AbortSignal;
  /** Set by the auth middleware; handlers of authenticated services can rely on it. */
  principal: Principal | undefined;
}

export type Next = (call: Call) => Promise<unknown>;
export type Middleware = (call: Call, next: Next) => Promise<unknown>;

/** Composes middlewares (first = outermost) around a final step. */
export function compose(middlewares: readonly Middleware[], last: Next): Next {
  return middlewares.reduceRight<Next>((next, mw) => (call) => mw(call, next), last);
}

/** One unary handler per RPC: the decoded request plus the Call (for the principal, signal). */
export type UnaryHandlers<S extends DescService> = {
  [K in keyof ServiceImpl<S>]: (
    request: Parameters<ServiceImpl<S>[K]>[0],
    call: Call,
  ) => ReturnType<ServiceImpl<S>[K]>;
};

/** Registers a service whose RPCs are all unary, each run through the chain. */
export function bindUnaryService<S extends DescService>(
  router: ConnectRouter,
  service: S,
  handlers: UnaryHandlers<S>,
  chain: readonly Middleware[],
): void {
  const impl: Record<string, (req: Message, ctx: HandlerContext) => Promise<unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") {
      throw new Error(`${method.parent.typeName}/${method.name} is not unary`);
    }
    const handler = (handlers as unknown as Record<string, (req: Message, call: Call) => Promise<unknown>>)[
      method.localName
    ];
    if (handler === undefined) throw new Error(`no handler for ${method.parent.typeName}/${method.name}`);
    const run = compose(chain, (call) => handler(call.message, call));
    impl[method.localName] = (message, ctx) =>
      run({ method, header: ctx.requestHeader, message, signal: ctx.signal, principal: undefined });
  }
  router.service(service, impl as unknown as ServiceImpl<S>);
}

/** The principal of an authenticated call; a programming error if auth did not run. */
export function tenantOf(call: Call): string {
  const p = call.principal;
  if (p?.kind !== "tenant") throw new Error(`${call.method.name}: no tenant principal on the call`);
  return p.tenantId;
}
