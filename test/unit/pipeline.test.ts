import { describe, expect, it } from "vitest";
import { compose, type Call, type Middleware } from "../../src/server/pipeline.js";
import { deadlineMiddleware } from "../../src/server/deadline.js";
import { AppError } from "../../src/errors.js";
import { Code, ConnectError } from "@connectrpc/connect";

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

  it("with a transport-owned controller: aborts that one at the ceiling (no second signal) and still ends with DEADLINE_EXCEEDED", async () => {
    const controller = new AbortController();
    const c = { ...call(), signal: controller.signal, controller };
    let seen: AbortSignal | undefined;
    const run = compose([deadlineMiddleware(50)], (inner) => {
      seen = inner.signal;
      return new Promise(() => undefined);
    });
    const err = await run(c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("DEADLINE_EXCEEDED");
    expect(seen).toBe(controller.signal);
    expect(controller.signal.aborted).toBe(true);
    expect((controller.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("with a transport-owned controller: the transport's abort (client gone) ends the call with its reason", async () => {
    const controller = new AbortController();
    const c = { ...call(), signal: controller.signal, controller };
    const run = compose([deadlineMiddleware(10_000)], () => new Promise(() => undefined));
    const pending = run(c).catch((e: unknown) => e);
    const reason = new ConnectError("the client cancelled the call", Code.Canceled);
    controller.abort(reason);
    expect(await pending).toBe(reason);
  });

  it("passes a fast call through untouched", async () => {
    const run = compose([deadlineMiddleware(1_000)], async () => "done");
    await expect(run(call())).resolves.toBe("done");
  });
});
