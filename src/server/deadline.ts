// Server-side ceiling on how long one unary call may run (CUSTOMERMS_MAX_DEADLINE_MS), whatever
// the client asked for: the call's signal is aborted at the ceiling and the call fails with
// DEADLINE_EXCEEDED. Client deadlines shorter than the ceiling are enforced by the transport
// (connect-node, grpc-fast.ts), which aborts the call's signal; the call then ends here too.
import { Code, ConnectError } from "@connectrpc/connect";
import { AppError } from "../errors.js";
import { callDeadline } from "../db/scope.js";
import type { Middleware } from "./pipeline.js";

export function deadlineMiddleware(maxMs: number): Middleware {
  return async (call, next) => {
    // Server streams (event feeds) are long-lived by design: only the client's deadline applies.
    if (call.method.methodKind !== "unary") return next(call);
    const ceiling = AbortSignal.timeout(maxMs);
    const transport = call.signal;
    call.signal = AbortSignal.any([transport, ceiling]);
    let onAbort: (() => void) | undefined;
    // The call ends when its signal does (server ceiling, client deadline or disconnect), so the
    // log line and the metrics record the outcome the client saw, not the handler's late one.
    const expired = new Promise<never>((_, reject) => {
      onAbort = () =>
        reject(
          ceiling.aborted
            ? new AppError("DEADLINE_EXCEEDED", `the call exceeded the server's maximum of ${maxMs} ms`, { reason: "DEADLINE_EXCEEDED" })
            : transport.reason instanceof ConnectError
              ? transport.reason
              : new ConnectError("the call's deadline passed or it was cancelled", Code.Canceled),
        );
      call.signal.addEventListener("abort", onAbort, { once: true });
    });
    // What is left of the earlier of the two bounds travels with the call to every transaction
    // (db/scope.ts: statement_timeout), so a query blocked on a lock is cancelled too.
    const deadline = Math.min(call.deadline ?? Infinity, Date.now() + maxMs);
    try {
      return await Promise.race([callDeadline.run(deadline, () => next(call)), expired]);
    } finally {
      if (onAbort) call.signal.removeEventListener("abort", onAbort);
    }
  };
}
