// grpc.health.v1.Health (DESIGN §1: readiness reflects PostgreSQL). Check/Watch/List through
// grpc-js and Connect, and a real outage: the database sits behind a TCP proxy that the test
// cuts and restores.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { bearer, createTenant, startServer, type TestServer } from "../support/app.js";
import { grpc, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";
import { hostPortOf, startTcpProxy, withHostPort, type TcpProxy } from "../support/tcp-proxy.js";

const CUSTOMER_SERVICE = "finhub.customer.v1.CustomerService";
const TENANT_SERVICE = "finhub.tenant.v1.TenantService";

function newCustomer(tag: string) {
  return { customer: { individual: { givenName: "Hedy", familyName: "Lamarr" }, email: `hedy.${tag}@example.com`, countryCode: "AT" } };
}

/** Collects the statuses a grpc-js Watch stream emits, until cancel(). */
function watchStatuses(client: ReturnType<typeof grpcClients>["health"], service: string) {
  const statuses: string[] = [];
  let error: grpc.ServiceError | undefined;
  const call = client.watch({ service }) as grpc.ClientReadableStream<{ status: string }>;
  call.on("data", (m: { status: string }) => statuses.push(m.status));
  call.on("error", (e: grpc.ServiceError) => {
    error = e;
  });
  return {
    statuses,
    get error() {
      return error;
    },
    cancel: () => call.cancel(),
  };
}

describe("health checks", () => {
  let server: TestServer;
  let clients: ReturnType<typeof grpcClients>;
  let sessionManager: Http2SessionManager;

  beforeAll(async () => {
    server = await startServer();
    clients = grpcClients(server.port);
    sessionManager = new Http2SessionManager(server.baseUrl);
  });
  afterAll(async () => {
    clients?.close();
    sessionManager?.abort();
    await server?.close();
  });

  it("Check answers SERVING for the server and each served service (grpc-js)", async () => {
    // The served services are only healthy if the tenant path works end to end, too.
    const tenant = await createTenant(server);
    await unary(clients.customers, "createCustomer", newCustomer("check"), metadata(bearer(tenant.apiKey)));
    for (const service of ["", CUSTOMER_SERVICE, TENANT_SERVICE]) {
      const res = await unary(clients.health, "check", { service });
      expect(res.status, service).toBe("SERVING");
    }
  });

  it("Check answers SERVING over Connect (HTTP/1.1 and HTTP/2)", async () => {
    const transports = [
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", sessionManager }),
    ];
    for (const transport of transports) {
      const health = createClient(Health, transport);
      expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
      expect((await health.check({ service: CUSTOMER_SERVICE })).status).toBe(Status.SERVING);
    }
  });

  it("Check of an unknown service is NOT_FOUND (grpc-js and Connect)", async () => {
    const err = await unaryError(clients.health, "check", { service: "nope.Service" });
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.code).toBe(5);

    const health = createClient(Health, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
    const connectErr = await health.check({ service: "nope.Service" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(connectErr?.code).toBe(Code.NotFound);
  });

  it("List names the server and every served service", async () => {
    const res = await unary(clients.health, "list", {});
    expect(Object.keys(res.statuses).sort()).toEqual(["", CUSTOMER_SERVICE, TENANT_SERVICE, "finhub.customer.v1.VerificationService"].sort());
    for (const s of Object.values(res.statuses) as Array<{ status: string }>) expect(s.status).toBe("SERVING");
  });

  it("Watch sends the current status first; an unknown service gets SERVICE_UNKNOWN", async () => {
    const known = watchStatuses(clients.health, "");
    const unknown = watchStatuses(clients.health, "nope.Service");
    try {
      await vi.waitFor(
        () => {
          expect(known.statuses[0]).toBe("SERVING");
          expect(unknown.statuses[0]).toBe("SERVICE_UNKNOWN");
        },
        { timeout: 5_000, interval: 50 },
      );
      // The stream stays open (no error) until the client goes away.
      expect(known.error).toBeUndefined();
      expect(unknown.error).toBeUndefined();
    } finally {
      known.cancel();
      unknown.cancel();
    }
  });

  it("Watch over Connect streams SERVING first", async () => {
    const health = createClient(Health, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", sessionManager }));
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(), 5_000);
    try {
      const stream = health.watch({ service: CUSTOMER_SERVICE }, { signal: abort.signal });
      let first: Status | undefined;
      for await (const m of stream) {
        first = m.status;
        break; // leaving the loop cancels the stream
      }
      expect(first).toBe(Status.SERVING);
    } finally {
      clearTimeout(deadline);
      abort.abort();
    }
  });
});

describe("readiness follows the database", () => {
  let proxy: TcpProxy;
  let server: TestServer;
  let clients: ReturnType<typeof grpcClients>;
  let watch: ReturnType<typeof watchStatuses> | undefined;

  beforeAll(async () => {
    const { inject } = await import("vitest");
    const databaseUrl = inject("databaseUrl");
    const target = hostPortOf(databaseUrl);
    proxy = await startTcpProxy(target.host, target.port);
    server = await startServer({
      DATABASE_URL: withHostPort(databaseUrl, proxy.port),
      CUSTOMERMS_HEALTH_INTERVAL_MS: "500",
    });
    clients = grpcClients(server.port);
  });
  afterAll(async () => {
    watch?.cancel();
    clients?.close();
    proxy?.restore();
    await server?.close();
    await proxy?.close();
  });

  it("goes NOT_SERVING within 5 s of losing PostgreSQL, fails calls with UNAVAILABLE, and recovers", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const before = await unary(clients.customers, "createCustomer", newCustomer("before"), md);
    expect(proxy.openConnections).toBeGreaterThan(0); // the service really talks through the proxy

    watch = watchStatuses(clients.health, "");
    await vi.waitFor(() => expect(watch!.statuses).toEqual(["SERVING"]), { timeout: 5_000, interval: 50 });
    expect((await unary(clients.health, "check", { service: "" })).status).toBe("SERVING");

    // Lose the database.
    const cutAt = Date.now();
    proxy.cut();
    await vi.waitFor(
      async () => {
        expect((await unary(clients.health, "check", { service: "" })).status).toBe("NOT_SERVING");
      },
      { timeout: 5_000, interval: 100 },
    );
    expect(Date.now() - cutAt).toBeLessThan(5_000);
    expect((await unary(clients.health, "check", { service: CUSTOMER_SERVICE })).status).toBe("NOT_SERVING");
    await vi.waitFor(() => expect(watch!.statuses).toContain("NOT_SERVING"), { timeout: 2_000, interval: 50 });
    expect(watch.statuses.slice(0, 2)).toEqual(["SERVING", "NOT_SERVING"]);

    // Calls during the outage: UNAVAILABLE (retryable), never INTERNAL/UNKNOWN.
    const getErr = await unaryError(clients.customers, "getCustomer", { id: before.customer.id }, md, {
      deadline: Date.now() + 15_000,
    });
    expect({ code: getErr.code, details: getErr.details }).toMatchObject({ code: grpc.status.UNAVAILABLE });
    const createErr = await unaryError(clients.customers, "createCustomer", newCustomer("during"), md, {
      deadline: Date.now() + 15_000,
    });
    expect({ code: createErr.code, details: createErr.details }).toMatchObject({ code: grpc.status.UNAVAILABLE });

    // Bring it back.
    proxy.restore();
    await vi.waitFor(
      async () => {
        expect((await unary(clients.health, "check", { service: "" })).status).toBe("SERVING");
      },
      { timeout: 10_000, interval: 100 },
    );
    await vi.waitFor(() => expect(watch!.statuses.at(-1)).toBe("SERVING"), { timeout: 2_000, interval: 50 });
    expect(watch.statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    expect(watch.error).toBeUndefined();

    const after = await unary(clients.customers, "createCustomer", newCustomer("after"), md);
    expect(after.customer.email).toBe("hedy.after@example.com");
    const got = await unary(clients.customers, "getCustomer", { id: before.customer.id }, md);
    expect(got.customer.id).toBe(before.customer.id);
  });
});
