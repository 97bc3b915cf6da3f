// The load process of `npm run bench`: a child of run.ts, driven over IPC, so that the load
// client's CPU is never the server's. It keeps N calls in flight (N async workers, each calling
// again as soon as its call returns) over a few grpc-js channels for gRPC, or over N keep-alive
// HTTP/1.1 connections (node:http) posting JSON for the Connect protocol. It also hosts the
// webhook receiver the service delivers verification codes to (CUSTOMERMS_WEBHOOK_URL), so a
// StartEmailVerification + VerifyEmail operation reads its code like a real caller would.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import {
  bulkId,
  gbIndividual,
  loadProtos,
  Samples,
  type LoaderMessage,
  type LoaderRequest,
  type RunResult,
  type RunSpec,
} from "./common.js";
import { ukMobileSequence } from "../support/fixtures.js";

const CALL_TIMEOUT_MS = 10_000;
const WEBHOOK_SECRET = process.env.BENCH_WEBHOOK_SECRET ?? "";
const RUN_TAG = process.env.BENCH_RUN_TAG ?? randomUUID().slice(0, 8);

const protos = loadProtos();
const CustomerService = protos.finhub.customer.v1.CustomerService as grpc.ServiceClientConstructor;
const VerificationService = protos.finhub.customer.v1.VerificationService as grpc.ServiceClientConstructor;
const TenantService = protos.finhub.tenant.v1.TenantService as grpc.ServiceClientConstructor;
const Health = protos.grpc.health.v1.Health as grpc.ServiceClientConstructor;

function send(m: LoaderMessage): void {
  process.send?.(m);
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver (verification codes)

const codes = new Map<string, string>();
const waiters = new Map<string, (code: string) => void>();
const webhookStats = { received: 0, badSignature: 0 };

function signatureOk(header: string | string[] | undefined, body: string): boolean {
  if (typeof header !== "string") return false;
  const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
  const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(header)?.[1];
  if (t === undefined || v1 === undefined) return false;
  const expected = createHmac("sha256", WEBHOOK_SECRET).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

const webhook = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    webhookStats.received += 1;
    if (!signatureOk(req.headers["x-customerms-signature"], body)) webhookStats.badSignature += 1;
    try {
      const m = JSON.parse(body) as { customer_id?: string; code?: string };
      if (m.customer_id && m.code) {
        const waiter = waiters.get(m.customer_id);
        if (waiter) {
          waiters.delete(m.customer_id);
          waiter(m.code);
        } else {
          codes.set(m.customer_id, m.code);
        }
      }
    } catch {
      // not JSON: counted as received, the waiting operation times out and reports it
    }
    res.writeHead(204).end();
  });
});
webhook.keepAliveTimeout = 30_000;

/** The code delivered for a customer (already received, or arriving within timeoutMs). */
function codeFor(customerId: string, timeoutMs = 5_000): Promise<string> {
  const have = codes.get(customerId);
  if (have !== undefined) {
    codes.delete(customerId);
    return Promise.resolve(have);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(customerId);
      reject(new Error(`no verification code delivered to the webhook within ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.set(customerId, (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Clients

interface Channels {
  customers: Array<grpc.Client & Record<string, any>>;
  verification: Array<grpc.Client & Record<string, any>>;
  health: Array<grpc.Client & Record<string, any>>;
  close(): void;
}

/** `count` independent HTTP/2 connections (a local subchannel pool each). */
function channels(port: number, count: number): Channels {
  const address = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const opts = (i: number) => ({ "grpc.use_local_subchannel_pool": 1, "bench.channel": i, "grpc.max_receive_message_length": 8 * 1024 * 1024 });
  const make = (ctor: grpc.ServiceClientConstructor) => Array.from({ length: count }, (_, i) => new ctor(address, creds, opts(i)) as grpc.Client & Record<string, any>);
  const out = { customers: make(CustomerService), verification: make(VerificationService), health: make(Health) };
  return {
    ...out,
    close() {
      for (const list of Object.values(out)) for (const c of list) c.close();
    },
  };
}

function bearer(key: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (key !== "") md.set("authorization", `Bearer ${key}`);
  return md;
}

function unary<T = any>(client: grpc.Client & Record<string, any>, method: string, request: object, md: grpc.Metadata): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, md.clone(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Connect unary call with JSON over HTTP/1.1 (keep-alive agent, one connection per call in flight). */
function postJson(agent: http.Agent, port: number, path: string, body: unknown, key: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        agent,
        headers: { "content-type": "application/json", authorization: `Bearer ${key}`, "content-length": Buffer.byteLength(data) },
        timeout: CALL_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`no response within ${CALL_TIMEOUT_MS} ms`)));
    req.end(data);
  });
}

// ---------------------------------------------------------------------------------------------
// Data

/** A fresh valid UK mobile number on every call. */
const nextPhone = ukMobileSequence();
let emailSeq = 0;
const nextEmail = () => `bench.${RUN_TAG}.${++emailSeq}@example.com`;

const pools = {
  main: [] as string[],
  verify: { tag: "", count: 0, next: 0 },
  scale: { tag: "", count: 0 },
};

function nextVerifyCustomer(): string {
  if (pools.verify.next >= pools.verify.count) throw new Error("the pool of unverified customers is exhausted (seed more)");
  return bulkId(pools.verify.tag, ++pools.verify.next);
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

// ---------------------------------------------------------------------------------------------
// Scenarios

type Op = (slot: number, iter: number) => Promise<string>;

interface Target {
  op: Op;
  close(): void;
}

function target(spec: RunSpec, created: string[]): Target {
  const n = spec.concurrency;
  const md = bearer(spec.apiKey);
  const ch = channels(spec.port, Math.min(n, 4));
  const agent = new http.Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n });
  const close = () => {
    ch.close();
    agent.destroy();
  };
  const customers = (slot: number) => ch.customers[slot % ch.customers.length]!;
  const ids = () => (spec.pool === "scale" ? null : pools.main);

  const echo: Op = async (slot) => {
    const res = await unary(ch.health[slot % ch.health.length]!, "check", { service: "" }, md);
    if (res.status !== "SERVING") throw new Error(`health status ${String(res.status)}`);
    return "echo";
  };
  const randomId = () => {
    const list = ids();
    return list === null ? bulkId(pools.scale.tag, 1 + Math.floor(Math.random() * (spec.scaleCount ?? pools.scale.count))) : pick(list);
  };
  const get: Op = async (slot) => {
    const id = randomId();
    const res = await unary(customers(slot), "getCustomer", { id }, md);
    if (res.customer?.id !== id) throw new Error("GetCustomer answered another customer");
    return "get";
  };
  const getConnect: Op = async () => {
    const id = randomId();
    const res = await postJson(agent, spec.port, "/finhub.customer.v1.CustomerService/GetCustomer", { id }, spec.apiKey);
    if (res.customer?.id !== id) throw new Error("GetCustomer answered another customer");
    return "get";
  };
  const list: Op = async (slot) => {
    const res = await unary(customers(slot), "listCustomers", { pageSize: 50 }, md);
    if (!Array.isArray(res.customers) || res.customers.length !== 50) throw new Error(`ListCustomers returned ${res.customers?.length ?? 0} customers, not 50`);
    return "list";
  };
  const create: Op = async (slot) => {
    const res = await unary(customers(slot), "createCustomer", { customer: gbIndividual(nextEmail(), nextPhone()), requestId: randomUUID() }, md);
    if (typeof res.customer?.id !== "string") throw new Error("CreateCustomer returned no customer");
    if (created.length < 20) created.push(res.customer.id);
    return "create";
  };
  /** Slot s updates only the customers at s, s+n, s+2n, … of the pool: no two concurrent
   * updates of one row, so none loses an optimistic-locking race. */
  const update: Op = async (slot, iter) => {
    const list = pools.main;
    const per = Math.max(1, Math.floor(list.length / n));
    const id = list[(slot + n * (iter % per)) % list.length]!;
    const res = await unary(
      customers(slot),
      "updateCustomer",
      { customer: { id, metadata: { bench: `${RUN_TAG}-${slot}-${iter}-${Date.now()}` } }, updateMask: { paths: ["metadata"] }, requestId: randomUUID() },
      md,
    );
    if (res.customer?.id !== id) throw new Error("UpdateCustomer answered another customer");
    return "update";
  };
  const verify: Op = async (slot) => {
    const id = nextVerifyCustomer();
    const v = ch.verification[slot % ch.verification.length]!;
    await unary(v, "startEmailVerification", { customerId: id, requestId: randomUUID() }, md);
    const code = await codeFor(id);
    const res = await unary(v, "verifyEmail", { customerId: id, code }, md);
    if (res.customer?.emailVerified !== true) throw new Error("VerifyEmail did not mark the email verified");
    return "verify";
  };
  /** 80 % reads (70 Get, 10 List), 15 % writes (10 Update, 5 Create), 5 % verification. */
  const mixed: Op = (slot, iter) => {
    const r = Math.random();
    if (r < 0.7) return get(slot, iter);
    if (r < 0.8) return list(slot, iter);
    if (r < 0.9) return update(slot, iter);
    if (r < 0.95) return create(slot, iter);
    return verify(slot, iter);
  };

  const ops: Record<RunSpec["scenario"], Op> = {
    echo_service: echo,
    echo_grpcjs: echo,
    get_grpc: get,
    get_handwritten_grpc: get,
    scale_get_grpc: get,
    get_connect: getConnect,
    get_handwritten_connect: getConnect,
    list_grpc: list,
    scale_list_grpc: list,
    create_grpc: create,
    create_handwritten_grpc: create,
    update_grpc: update,
    verify_grpc: verify,
    mixed_grpc: mixed,
  };
  return { op: ops[spec.scenario], close };
}

function describe(err: unknown): string {
  const e = err as Partial<grpc.ServiceError> & Error;
  const text = typeof e.code === "number" ? `${grpc.status[e.code]}: ${e.details ?? e.message}` : (e.message ?? String(err));
  return text.slice(0, 300);
}

async function run(id: number, spec: RunSpec): Promise<RunResult> {
  const created: string[] = [];
  const t = target(spec, created);
  const all = new Samples();
  const byOp = new Map<string, Samples>();
  const errorSamples: Record<string, number> = {};
  let errors = 0;
  let completed = 0;
  let measuring = false;
  let stopped = false;
  let windowStart = 0;
  let windowEnd = 0;
  const startTimer = setTimeout(() => {
    windowStart = performance.now();
    measuring = true;
    send({ type: "measuring", id });
  }, spec.warmupMs);
  const endTimer = setTimeout(() => {
    windowEnd = performance.now();
    stopped = true;
    send({ type: "measuring", id });
  }, spec.warmupMs + spec.durationMs);
  const hardStop = Date.now() + spec.warmupMs + spec.durationMs + CALL_TIMEOUT_MS + 5_000;
  try {
    await Promise.all(
      Array.from({ length: spec.concurrency }, async (_, slot) => {
        for (let iter = 0; !stopped && Date.now() < hardStop; iter++) {
          const counted = measuring;
          const t0 = performance.now();
          try {
            const kind = await t.op(slot, iter);
            const ms = performance.now() - t0;
            if (measuring && !stopped) completed += 1;
            if (counted) {
              all.push(ms);
              if (spec.scenario === "mixed_grpc") {
                let s = byOp.get(kind);
                if (!s) byOp.set(kind, (s = new Samples()));
                s.push(ms);
              }
            }
          } catch (err) {
            errors += 1;
            const key = describe(err);
            if (Object.keys(errorSamples).length < 10 || key in errorSamples) errorSamples[key] = (errorSamples[key] ?? 0) + 1;
            // A failing target must not turn into a busy loop.
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }),
    );
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    t.close();
  }
  const seconds = (windowEnd - windowStart) / 1000;
  const summary = all.summary();
  return {
    scenario: spec.scenario,
    concurrency: spec.concurrency,
    seconds: Math.round(seconds * 1000) / 1000,
    rps: seconds > 0 ? Math.round((completed / seconds) * 10) / 10 : 0,
    errors,
    errorSamples,
    ...summary,
    ...(byOp.size > 0 ? { byOp: Object.fromEntries([...byOp].map(([k, s]) => [k, s.summary()])) } : {}),
    ...(created.length > 0 ? { createdSample: created } : {}),
    ...(spec.keepLatencies ? { latencies: all.values() } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Setup commands

async function setupTenant(port: number, adminToken: string, name: string) {
  const client = new TenantService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  try {
    const res = await unary(
      client,
      "createTenant",
      { tenant: { displayName: name, verificationPolicy: { sendBudgetPerMinute: 100_000 } }, requestId: randomUUID() },
      bearer(adminToken),
    );
    return { tenantId: res.tenant.id as string, apiKey: res.apiKey as string, apiKeyId: res.key.id as string };
  } finally {
    client.close();
  }
}

async function seed(port: number, apiKey: string, count: number, concurrency: number): Promise<string[]> {
  const ch = channels(port, 2);
  const md = bearer(apiKey);
  const ids: string[] = [];
  let next = 0;
  const deadline = Date.now() + 600_000;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async (_, slot) => {
        while (next < count && Date.now() < deadline) {
          next += 1;
          const res = await unary(ch.customers[slot % 2]!, "createCustomer", { customer: gbIndividual(nextEmail(), nextPhone()), requestId: randomUUID() }, md);
          ids.push(res.customer.id as string);
        }
      }),
    );
  } finally {
    ch.close();
  }
  if (ids.length < count) throw new Error(`seeded ${ids.length} of ${count} customers in the time allowed`);
  return ids;
}

/** Reads customers through the service (GetCustomer): proves rows written by the hand-written
 * baseline are rows the service reads as its own (same columns, sealed with the tenant's key). */
async function check(port: number, apiKey: string, ids: string[]) {
  const ch = channels(port, 1);
  try {
    const out = [];
    for (const id of ids) {
      const res = await unary(ch.customers[0]!, "getCustomer", { id }, bearer(apiKey));
      const c = res.customer;
      out.push({ id: c.id, dateOfBirth: c.individual?.dateOfBirth, nationalId: c.individual?.nationalId?.maskedValue, etag: c.etag });
    }
    return out;
  } finally {
    ch.close();
  }
}

// ---------------------------------------------------------------------------------------------

process.on("message", (raw: LoaderRequest) => {
  const reply = (p: Promise<unknown>) =>
    p.then(
      (value) => send({ type: "reply", id: raw.id, ok: true, value }),
      (err: unknown) => send({ type: "reply", id: raw.id, ok: false, error: err instanceof Error ? `${describe(err)}\n${err.stack ?? ""}` : String(err) }),
    );
  switch (raw.cmd) {
    case "setup":
      return void reply(setupTenant(raw.port, raw.adminToken, raw.name));
    case "seed":
      return void reply(seed(raw.port, raw.apiKey, raw.count, raw.concurrency));
    case "pools":
      pools.main = raw.main;
      if (raw.verify.tag !== pools.verify.tag) pools.verify = { ...raw.verify, next: 0 };
      else pools.verify.count = raw.verify.count;
      pools.scale = raw.scale;
      return void reply(Promise.resolve({ verifyUsed: pools.verify.next }));
    case "run":
      return void reply(run(raw.id, raw.spec));
    case "check":
      return void reply(check(raw.port, raw.apiKey, raw.ids));
    case "stats":
      return void reply(Promise.resolve({ ...webhookStats, verifyUsed: pools.verify.next }));
  }
});
process.on("disconnect", () => process.exit(0));
process.on("SIGINT", () => process.exit(130));

webhook.listen(0, "127.0.0.1", () => {
  send({ type: "ready", webhookPort: (webhook.address() as AddressInfo).port });
});
