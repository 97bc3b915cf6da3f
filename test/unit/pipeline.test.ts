import { describe, expect, it } from "vitest";
import { compose, type Call, type Middleware } from "../../src/server/pipeline.js";
import { deadlineMiddleware } from "../../src/server/deadline.js";
import { AppError } from "../../src/errors.js";

function call(): Call {
  return {
    method: { name: "M", methodKind: "unary", parent: { typeName: "t.S" } } as unknown as Call["method"],
    header: new Headers(),
    message: {} as Call["message"],
    signal: new AbortController().signal,
    principal: undefined,
    peer: "127.0.0.1",
  };
}

describe("compose", () => {
  it("runs middlewares outermost first and lets them change the call", async () => {
    const order: string[] = [];
    const mw = (name: string): Middleware => async (c, next) => {
      order.push(`${name}>`);
      const r = await next(c);
      order.push(`<${name}`);
      return r;
    };
    const setPrincipal: Middleware = (c, next) => {
      c.principal = { kind: "admin" };
      return next(c);
    };
    const run = compose([mw("a"), mw("b"), setPrincipal], async (c) => c.principal?.kind);
    await expect(run(call())).resolves.toBe("admin");
    expect(order).toEqual(["a>", "b>", "<b", "<a"]);
  });
});

describe("deadline middleware", () => {
  it("fails a call that outlives the server's ceiling with DEADLINE_EXCEEDED and aborts its signal", async () => {
    let seen: AbortSignal | undefined;
    const run = compose([deadlineMiddleware(100)], (c) => {
      seen = c.signal;
      return new Promise(() => undefined); // never settles on its own
    });
    const err = await run(call()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("DEADLINE_EXCEEDED");
    expect(seen?.aborted).toBe(true);
  });

  it("passes a fast call through untouched", async () => {
    const run = compose([deadlineMiddleware(1_000)], async () => "done");
    await expect(run(call())).resolves.toBe("done");
  });
});
