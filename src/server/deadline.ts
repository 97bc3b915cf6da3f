// Server-side ceiling on how long one unary call may run (CUSTOMERMS_MAX_DEADLINE_MS), whatever
// the client asked for: the call's signal is aborted at the ceiling and the call fails with
// DEADLINE_EXCEEDED. Client deadlines shorter than the ceiling are enforced by the transport
// (connect-node, grpc-fast.ts), which aborts the call's signal; the call then ends here too.
import { Code, ConnectError } from "@connectrpc/connect";
import { AppError } from "../errors.js";
import type { Middleware } from "./pipeline.js";

export function deadlineMiddleware(maxMs: number): Middleware {
  return async (call, next) => {
    // Server streams (event feeds) are long-lived by design: only the client's deadline applies.
    if (call.method.methodKind !== "unary") return next(call);
    // One controller and one plain timer per call, both released when it ends: cheaper than
    // AbortSignal.timeout + AbortSignal.any, whose weakly held signals and timers the GC tracks.
    // When the transport owns the call's controller (the fast paths) it is that one: no second.
    const transport = call.signal;
    const own = call.controller !== undefined && call.controller.signal === transport;
    const controller = own ? call.controller! : new AbortController();
    let expire!: (err: unknown) => void;
    // The call ends when its signal does (server ceiling, client deadline or disconnect), so the
    // log line and the metrics record the outcome the client saw, not the handler's late one.
    const expired = new Promise<never>((_, reject) => (expire = reject));
    const onTransportAbort = () => {
      if (!own) controller.abort(transport.reason);
      expire(
        transport.reason instanceof ConnectError ? transport.reason : new ConnectError("the call's deadline passed or it was cancelled", Code.Canceled),
      );
    };
    const ceiling = setTimeout(() => {
      // The outcome first: aborting a transport-owned controller runs onTransportAbort at once,
      // and the first rejection is the one the call ends with.
      expire(new AppError("DEADLINE_EXCEEDED", `the call exceeded the server's maximum of ${maxMs} ms`, { reason: "DEADLINE_EXCEEDED" }));
      controller.abort(new DOMException("the server's maximum call duration passed", "TimeoutError"));
    }, maxMs);
    if (transport.aborted) onTransportAbort();
    else transport.addEventListener("abort", onTransportAbort, { once: true });
    call.signal = controller.signal;
    // The earlier of the two bounds travels with the call: handlers pass it to every transaction
    // (db/scope.ts: statement_timeout), so a query blocked on a lock is cancelled too.
    call.deadline = Math.min(call.deadline ?? Infinity, Date.now() + maxMs);
    try {
      return await Promise.race([next(call), expired]);
    } finally {
      clearTimeout(ceiling);
      transport.removeEventListener("abort", onTransportAbort);
    }
  };
}
