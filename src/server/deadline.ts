// Server-side ceiling on how long one unary call may run (CUSTOMERMS_MAX_DEADLINE_MS), whatever
// the client asked for: the call's signal is aborted at the ceiling and the call fails with
// DEADLINE_EXCEEDED. Client deadlines shorter than the ceiling are enforced by Connect itself.
import { AppError } from "../errors.js";
import type { Middleware } from "./pipeline.js";

export function deadlineMiddleware(maxMs: number): Middleware {
  return async (call, next) => {
    // Server streams (event feeds) are long-lived by design: only the client's deadline applies.
    if (call.method.methodKind !== "unary") return next(call);
    const ceiling = AbortSignal.timeout(maxMs);
    call.signal = AbortSignal.any([call.signal, ceiling]);
    let onAbort: (() => void) | undefined;
    const expired = new Promise<never>((_, reject) => {
      onAbort = () =>
        reject(
          new AppError("DEADLINE_EXCEEDED", `the call exceeded the server's maximum of ${maxMs} ms`, {
            reason: "DEADLINE_EXCEEDED",
          }),
        );
      ceiling.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([next(call), expired]);
    } finally {
      if (onAbort) ceiling.removeEventListener("abort", onAbort);
    }
  };
}
