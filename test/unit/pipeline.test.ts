import { describe, expect, it } from "vitest";
import { CallCancel, callHeaders, clientDeadline, compose, TransportCall, type Call, type Middleware } from "../../src/server/pipeline.js";
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

  /** A fast-path call: its signal is its CallCancel's, made when read. */
  const fastCall = (cancel: CallCancel): Call => {
    const c = call();
    return new TransportCall(c.method, c.header, c.message, c.peer, cancel, undefined);
  };

  it("with the transport's cancel (fast paths): cancels it at the ceiling (no signal of its own) and still ends with DEADLINE_EXCEEDED", async () => {
    const cancel = new CallCancel();
    let seen: AbortSignal | undefined;
    const run = compose([deadlineMiddleware(50)], (inner) => {
      seen = inner.signal;
      return new Promise(() => undefined);
    });
    const err = await run(fastCall(cancel)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("DEADLINE_EXCEEDED");
    expect(seen).toBe(cancel.signal);
    expect(cancel.aborted).toBe(true);
    expect(cancel.signal.aborted).toBe(true);
    expect((cancel.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("with the transport's cancel: the transport's abort (client gone) ends the call with its reason", async () => {
    const cancel = new CallCancel();
    const run = compose([deadlineMiddleware(10_000)], () => new Promise(() => undefined));
    const pending = run(fastCall(cancel)).catch((e: unknown) => e);
    const reason = new ConnectError("the client cancelled the call", Code.Canceled);
    cancel.abort(reason);
    expect(await pending).toBe(reason);
  });

  it("with the transport's cancel: a call that ends in time leaves no listener behind and makes no signal", async () => {
    const cancel = new CallCancel();
    const run = compose([deadlineMiddleware(10_000)], async (c) => c.deadline);
    const deadline = (await run(fastCall(cancel))) as number;
    expect(deadline).toBeGreaterThan(Date.now() + 9_000);
    expect((cancel as unknown as { listeners?: unknown[] }).listeners).toEqual([]);
    expect((cancel as unknown as { controller?: unknown }).controller).toBeUndefined();
  });

  it("a call whose transport ended before it got here fails with that reason, and its handler does not run", async () => {
    const cancel = new CallCancel();
    const reason = new ConnectError("the client cancelled the call", Code.Canceled);
    cancel.abort(reason);
    let ran = false;
    const run = compose([deadlineMiddleware(10_000)], async () => {
      ran = true;
      return "done";
    });
    expect(await run(fastCall(cancel)).catch((e: unknown) => e)).toBe(reason);
    expect(ran).toBe(false);
    // connect-node's calls: an already aborted signal, the same outcome.
    const controller = new AbortController();
    controller.abort(reason);
    const plain = { ...call(), signal: controller.signal };
    expect(await run(plain).catch((e: unknown) => e)).toBe(reason);
    expect(ran).toBe(false);
  });

  it("a next step that throws instead of rejecting fails the call with that error, and clears the ceiling", async () => {
    const cancel = new CallCancel();
    const boom = new Error("thrown synchronously");
    const run = compose([deadlineMiddleware(10_000)], () => {
      throw boom;
    });
    expect(await run(fastCall(cancel)).catch((e: unknown) => e)).toBe(boom);
    expect((cancel as unknown as { listeners?: unknown[] }).listeners).toEqual([]);
  });

  it("passes a fast call through untouched", async () => {
    const run = compose([deadlineMiddleware(1_000)], async () => "done");
    await expect(run(call())).resolves.toBe("done");
  });
});

describe("clientDeadline (the fast paths' client deadline)", () => {
  it("without a client timeout, `within` is the work itself: no race, no timer", async () => {
    const work = Promise.resolve("done");
    const client = clientDeadline(undefined, 1_000, new CallCancel());
    expect(client.within(work)).toBe(work);
    client.clear();
  });

  it("with one, `within` fails with DEADLINE_EXCEEDED once it passed and cancels the call", async () => {
    const cancel = new CallCancel();
    const client = clientDeadline(20, 1_000, cancel);
    const err = await client.within(new Promise(() => undefined)).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(cancel.reason).toBe(err);
    client.clear();
  });
});

describe("CallCancel (the fast paths' cancellation)", () => {
  it("the first abort wins; listeners hear it once, in order; a removed one does not", () => {
    const cancel = new CallCancel();
    const heard: string[] = [];
    cancel.onAbort((r) => heard.push(`a:${String(r)}`));
    const off = cancel.onAbort((r) => heard.push(`b:${String(r)}`));
    cancel.onAbort((r) => heard.push(`c:${String(r)}`));
    off();
    cancel.abort("first");
    cancel.abort("second");
    expect(heard).toEqual(["a:first", "c:first"]);
    expect(cancel.aborted).toBe(true);
    expect(cancel.reason).toBe("first");
  });

  it("a listener added after the abort hears it at once", () => {
    const cancel = new CallCancel();
    cancel.abort("gone");
    const heard: unknown[] = [];
    cancel.onAbort((r) => heard.push(r));
    expect(heard).toEqual(["gone"]);
  });

  it("its signal, made before or after the abort, is aborted with the same reason and fires its listeners", () => {
    const early = new CallCancel();
    const signal = early.signal;
    expect(signal.aborted).toBe(false);
    let fired = 0;
    signal.addEventListener("abort", () => fired++);
    early.abort("why");
    expect([signal.aborted, signal.reason, fired]).toEqual([true, "why", 1]);
    expect(early.signal).toBe(signal);

    const late = new CallCancel();
    late.abort("later");
    expect([late.signal.aborted, late.signal.reason]).toEqual([true, "later"]);
  });
});

describe("callHeaders (the fast paths' request headers)", () => {
  // What node:http2 and node:http hand over: lowercase names, pseudo-headers, a repeated header
  // as an array, a header some code left undefined.
  const raw: Record<string, string | string[] | undefined> = {
    ":method": "POST",
    ":path": "/finhub.customer.v1.CustomerService/GetCustomer",
    "content-type": "application/grpc",
    authorization: "Bearer cms_test_abc",
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "x-forwarded-for": ["10.0.0.1", "10.0.0.2"],
    "grpc-timeout": undefined,
  };
  const reference = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith(":") || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) reference.append(k, one);
  }

  it("reads like a fetch Headers built from them: values, joined repeats, any case, names sorted", () => {
    const h = callHeaders(raw);
    for (const name of ["authorization", "Authorization", "CONTENT-TYPE", "traceparent", "x-forwarded-for", "grpc-timeout", "missing"]) {
      expect(h.get(name)).toBe(reference.get(name));
    }
    expect(h.get("x-forwarded-for")).toBe("10.0.0.1, 10.0.0.2");
    expect([...h.keys()]).toEqual([...reference.keys()]);
  });

  it("never exposes the HTTP/2 pseudo-headers", () => {
    const h = callHeaders(raw);
    expect(h.get(":path")).toBeNull();
    expect(h.get(":method")).toBeNull();
    expect([...h.keys()].some((k) => k.startsWith(":"))).toBe(false);
  });
});
