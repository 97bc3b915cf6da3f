// Server-side ceiling on how long one unary call may run (CUSTOMERMS_MAX_DEADLINE_MS), whatever
// the client asked for: the call's signal is aborted at the ceiling and the call fails with
// DEADLINE_EXCEEDED. Client deadlines shorter than the ceiling are enforced by the transport
// (connect-node, the fast paths), which aborts the call's signal (the fast paths: its
// `cancel`); the call then ends here too.
import { Code, ConnectError } from "@connectrpc/connect";
import { AppError } from "../errors.js";
import type { Middleware } from "./pipeline.js";

export function deadlineMiddleware(maxMs: number): Middleware {
  // Not async, and no Promise.race: one promise per call, settled by whichever comes first (the
  // chain's outcome, the transport ending the call, the ceiling), with its cleanup on the spot.
  return (call, next) => {
    // Server streams (event feeds) are long-lived by design: only the client's deadline applies.
    if (call.method.methodKind !== "unary") return next(call);
    return new Promise((resolve, reject) => {
      let ended = false;
      let ceiling: NodeJS.Timeout | undefined;
      // What aborts the call's signal at the ceiling, and stops following the transport's.
      let abort: (reason: unknown) => void;
      let stopListening: () => void = () => undefined;
      const end = () => {
        ended = true;
        clearTimeout(ceiling);
        stopListening();
      };
      const succeed = (value: unknown) => {
        if (ended) return;
        end();
        resolve(value);
      };
      // The call ends when its signal does (server ceiling, client deadline or disconnect), so the
      // log line and the metrics record the outcome the client saw, not the handler's late one.
      const fail = (err: unknown) => {
        if (ended) return;
        end();
        reject(err);
      };
      const transportEnded = (reason: unknown) =>
        fail(reason instanceof ConnectError ? reason : new ConnectError("the call's deadline passed or it was cancelled", Code.Canceled));
      const cancel = call.cancel;
      if (cancel !== undefined) {
        // The fast paths: the transport's own cancellation, no AbortController of ours (one timer
        // and one plain listener per call).
        stopListening = cancel.onAbort(transportEnded);
        abort = (reason) => cancel.abort(reason);
      } else {
        // connect-node's calls: a controller of ours follows the transport's signal and the
        // ceiling (cheaper than AbortSignal.timeout + AbortSignal.any, whose weakly held signals
        // and timers the GC tracks).
        const transport = call.signal;
        const controller = new AbortController();
        const onTransportAbort = () => {
          controller.abort(transport.reason);
          transportEnded(transport.reason);
        };
        call.signal = controller.signal;
        abort = (reason) => controller.abort(reason);
        if (transport.aborted) onTransportAbort();
        else {
          transport.addEventListener("abort", onTransportAbort, { once: true });
          stopListening = () => transport.removeEventListener("abort", onTransportAbort);
        }
      }
      // Already over (the client left before the chain got here): the handler does not run.
      if (ended) return;
      ceiling = setTimeout(() => {
        // The outcome first: aborting the fast paths' cancel would otherwise end the call as
        // cancelled rather than past the server's deadline.
        fail(new AppError("DEADLINE_EXCEEDED", `the call exceeded the server's maximum of ${maxMs} ms`, { reason: "DEADLINE_EXCEEDED" }));
        abort(new DOMException("the server's maximum call duration passed", "TimeoutError"));
      }, maxMs);
      // The earlier of the two bounds travels with the call: handlers pass it to every transaction
      // (db/scope.ts: statement_timeout), so a query blocked on a lock is cancelled too.
      call.deadline = Math.min(call.deadline ?? Infinity, Date.now() + maxMs);
      try {
        next(call).then(succeed, fail);
      } catch (err) {
        fail(err);
      }
    });
  };
}
