// `npm run soak [-- --minutes N]` (default 10; not in CI): the service as a real process (the
// `npm start` command line) on a throwaway database and its own redis-server, driven by a grpc-js
// client with mixed traffic (create 20 %, get 50 %, update 15 %, list 15 %). First its capacity
// is measured (10 s, 32 calls in flight), then it runs at half of that for N minutes. Each
// interval reports calls, errors, p50/p99 latency and the service's RSS; the result goes to
// test/faults/results/latest.json and docs/reliability.md (scripts/reliability-report.ts).
import { randomBytes, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { writeSoak, type SoakInterval } from "../../scripts/reliability-report.js";
import { memory } from "../bench/procfs.js";
import { completeIndividual, ukMobileSequence } from "../support/fixtures.js";
import { unary } from "../support/grpc.js";
import { startRedisServer } from "../support/redis-server.js";
import { percentile, startLoad } from "./support/load.js";
import { ServiceProcess } from "./support/service.js";

const { values } = parseArgs({ options: { minutes: { type: "string", default: "10" } } });
const minutes = Number(values.minutes);
if (!(minutes > 0 && minutes <= 120)) throw new Error("--minutes must be in (0, 120]");
const intervalS = minutes <= 2 ? 10 : 30;
/** The soak creates more customers than the fixtures' 10 000 numbers per country: its own supply. */
const nextPhone = ukMobileSequence();
const serverUrl = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const name = `cms_soak_${randomBytes(5).toString("hex")}`;
await admin(`create database ${name}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${name}`;
const redis = await startRedisServer();
// The owner's URL for both: the service migrates the new database at start.
const service = new ServiceProcess({
  redisUrl: redis.url,
  database: { ownerUrl: dbUrl.toString(), serviceUrl: dbUrl.toString() },
  // LOG_LEVEL stays "info": waitListening reads the "listening" line (per-call lines go to a pipe).
  env: { CUSTOMERMS_MIGRATE_ON_START: "true" },
});

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

try {
  await service.start();
  const tenant = await service.createTenant();
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) ids.push((await unary(service.clients.customers, "createCustomer", { customer: completeIndividual("GB", { phoneNumber: nextPhone() }) }, tenant.md)).customer.id);

  const latencies: number[] = [];
  let calls = 0;
  let errors = 0;
  const oneCall = async (i: number) => {
    const c = service.clients.customers;
    const r = i % 20;
    const t0 = performance.now();
    try {
      if (r < 4) {
        const { customer } = await unary(c, "createCustomer", { customer: completeIndividual("GB", { phoneNumber: nextPhone() }), requestId: randomUUID() }, tenant.md, { deadline: Date.now() + 5_000 });
        if (ids.length < 5_000) ids.push(customer.id);
      } else if (r < 14) {
        await unary(c, "getCustomer", { id: ids[i % ids.length] }, tenant.md, { deadline: Date.now() + 5_000 });
      } else if (r < 17) {
        await unary(c, "updateCustomer", { customer: { id: ids[i % ids.length], metadata: { n: String(i) } }, updateMask: { paths: ["metadata"] } }, tenant.md, { deadline: Date.now() + 5_000 }).catch((err) => {
          if (err.code !== 10) throw err; // ABORTED: a concurrent update of the same customer won, as designed
        });
      } else {
        await unary(c, "listCustomers", { pageSize: 20 }, tenant.md, { deadline: Date.now() + 5_000 });
      }
    } catch {
      errors++;
    }
    calls++;
    latencies.push(performance.now() - t0);
  };

  // Capacity: 10 s closed loop, 32 in flight.
  log("measuring capacity (10 s, 32 in flight)…");
  const t0 = performance.now();
  await startLoad({ inFlight: 32, maxCalls: 1_000_000, maxMs: 10_000 }, oneCall).done;
  const capacityRps = Math.round(calls / ((performance.now() - t0) / 1000));
  const targetRps = Math.max(1, Math.round(capacityRps / 2));
  log(`capacity ≈ ${capacityRps} calls/s; soaking at ${targetRps} calls/s for ${minutes} min, reporting every ${intervalS} s`);

  // Paced load: a call every 1/target s (at most 256 in flight), for `minutes`.
  const intervals: SoakInterval[] = [];
  const rssStart = memory(service.pid).rss;
  let i = 0;
  let inFlight = 0;
  const start = performance.now();
  const end = start + minutes * 60_000;
  let nextReport = start + intervalS * 1000;
  calls = 0;
  errors = 0;
  latencies.length = 0;
  let totalCalls = 0;
  let totalErrors = 0;
  const all: number[] = [];
  const pending = new Set<Promise<void>>();
  for (let tick = 0; performance.now() < end && tick < 100_000_000; tick++) {
    const due = start + (i * 1000) / targetRps;
    const now = performance.now();
    if (now < due) await new Promise((r) => setTimeout(r, Math.min(due - now, 50))); // pacing, not synchronisation
    if (performance.now() >= due && inFlight < 256) {
      inFlight++;
      const p = oneCall(i++).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    if (performance.now() >= nextReport) {
      const rss = memory(service.pid).rss;
      const entry: SoakInterval = {
        atS: Math.round((performance.now() - start) / 1000),
        calls,
        errors,
        errorRate: calls === 0 ? 0 : errors / calls,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        rssMiB: rss / 2 ** 20,
      };
      intervals.push(entry);
      log(`t=${entry.atS}s calls=${calls} errors=${errors} p50=${entry.p50Ms.toFixed(1)}ms p99=${entry.p99Ms.toFixed(1)}ms rss=${entry.rssMiB.toFixed(0)}MiB`);
      totalCalls += calls;
      totalErrors += errors;
      all.push(...latencies);
      calls = 0;
      errors = 0;
      latencies.length = 0;
      nextReport += intervalS * 1000;
    }
  }
  await Promise.all([...pending]);
  totalCalls += calls;
  totalErrors += errors;
  all.push(...latencies);
  const rssEnd = memory(service.pid).rss;
  const result = {
    recordedAt: new Date().toISOString(),
    minutes,
    capacityRps,
    targetRps,
    totalCalls,
    errors: totalErrors,
    errorRate: totalCalls === 0 ? 0 : totalErrors / totalCalls,
    p99Ms: percentile(all, 99),
    rssStartMiB: rssStart / 2 ** 20,
    rssEndMiB: rssEnd / 2 ** 20,
    rssMaxMiB: Math.max(rssStart, rssEnd, ...intervals.map((x) => x.rssMiB * 2 ** 20)) / 2 ** 20,
    intervals,
  };
  writeSoak(result);
  log(
    `done: ${totalCalls} calls, ${totalErrors} errors (${(result.errorRate * 100).toFixed(3)} %), p99 ${result.p99Ms.toFixed(1)} ms, ` +
      `RSS ${result.rssStartMiB.toFixed(0)} → ${result.rssEndMiB.toFixed(0)} MiB; written to docs/reliability.md`,
  );
} finally {
  await service.dispose();
  await redis.stop();
  await admin(`drop database if exists ${name} with (force)`);
}
