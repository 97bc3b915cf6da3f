// `npm run bench:events -- [--clients=16] [--transactions=3000] [--rounds=2]`
//
// What the gapless event numbering (docs/architecture.md §14) costs one tenant's writes, on
// PostgreSQL alone: `--clients` connections, as the service's role (row-level security on), run
// write transactions of one tenant shaped like the service's — `begin; set_config` in one round
// trip, the request_id claim (a prepared insert), then the event sent with the `commit` — in four
// variants, interleaved over `--rounds`:
//   after-commit  the service's design since 2026-12-07: the event is inserted without a number
//                 (src/events/event.repository.ts appendStatement) and, after the commit, the call
//                 waits for a numbering of the tenant that started after it
//                 (src/events/event.sequencer.ts: one at a time per tenant, shared by the calls
//                 that commit meanwhile);
//   in-transaction  the design until then: the tenant's row in tenant_event_sequences is upserted
//                 with the insert and stays locked until the commit (numbering = commit order),
//                 so one tenant's transactions queue for it one by one;
//   sequence      the event numbered by a plain PostgreSQL sequence (no gapless guarantee, no
//                 commit order: the floor of a numbered event);
//   none          no event at all.
// It prints transactions per second and the CPU of the PostgreSQL backends per transaction
// (/proc, like the bench's "DB CPU"; the numbering's own connections included). A throwaway
// database, migrated as the tests' is, dropped at the end; every loop is bounded by
// --transactions.
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { migrateUp, openOrm } from "../../src/db/orm.js";
import { createScopes } from "../../src/db/scope.js";
import { literal as lit } from "../../src/db/sql.js";
import { appendStatement, EVENTS_CHANNEL } from "../../src/events/event.repository.js";
import { EventSequencer, numberingStore } from "../../src/events/event.sequencer.js";
import { asRole, ensureServiceRole } from "../support/service-role.js";
import { clockTicks } from "./procfs.js";

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const CLIENTS = arg("clients", 16);
const TRANSACTIONS = arg("transactions", 3_000);
const ROUNDS = arg("rounds", 2);
const PG_SERVER = process.env.BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const ROLE = "customerms_bench_service";
const VARIANTS = ["after-commit", "in-transaction", "sequence", "none"] as const;
type Variant = (typeof VARIANTS)[number];

const log = (m: string) => process.stdout.write(`[event-numbering] ${m}\n`);

const dbName = `cms_evnum_${randomBytes(5).toString("hex")}`;
const admin = new pg.Client({ connectionString: PG_SERVER });
await admin.connect();
await admin.query(`create database ${dbName}`);
const ownerUrl = new URL(PG_SERVER);
ownerUrl.pathname = `/${dbName}`;

try {
  const orm = await openOrm(ownerUrl.toString(), 1);
  try {
    await migrateUp(orm);
  } finally {
    await orm.close(true);
  }
  const owner = new pg.Client({ connectionString: ownerUrl.toString() });
  await owner.connect();
  await ensureServiceRole(owner, ROLE);
  await owner.query("create sequence bench_event_seq start 1000000000; grant usage on sequence bench_event_seq to customerms_app");
  await owner.end();
  const serviceUrl = asRole(ownerUrl.toString(), ROLE);

  const tenant = randomUUID();
  const customer = randomUUID();
  const pool = new pg.Pool({ connectionString: serviceUrl, max: CLIENTS });
  pool.on("error", () => undefined); // a connection dropped with the database at the end
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => pool.connect()));
  const backends: number[] = [];
  for (const c of clients) backends.push((await c.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid);
  const backendTicks = () =>
    backends.reduce((sum, pid) => {
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return sum + Number(f[11]) + Number(f[12]);
    }, 0);

  // The service's numbering, on a pool of its own (as the service's pool is shared by both).
  const sequencerOrm = await openOrm(serviceUrl, 4);
  const sequencerScopes = createScopes(sequencerOrm);
  const sequencer = new EventSequencer(numberingStore(sequencerScopes), (message, err) => log(`${message}: ${err.message}`), 60_000);
  const sequencerBackends = async () => {
    const rows = await sequencerOrm.em.getConnection().execute<Array<{ pid: number }>>(
      "select pid from pg_stat_activity where datname = current_database() and query like '%number_customer_events%'",
    );
    return rows.map((r) => r.pid);
  };

  const append = (variant: Variant, requestId: string): string => {
    const event = { tenantId: tenant, customerId: customer, type: "CUSTOMER_UPDATED", actor: "api_key:bench", requestId, reason: null, note: "", changedFields: ["metadata"], time: new Date() };
    if (variant === "after-commit") return `${appendStatement(event)};`;
    if (variant === "none") return "";
    const seq = variant === "sequence" ? "nextval('bench_event_seq')" : "next.last_seq";
    const upsert = `with next as (
        insert into tenant_event_sequences (tenant_id, last_seq) values (${lit(tenant)}, 1)
        on conflict (tenant_id) do update set last_seq = tenant_event_sequences.last_seq + 1 returning last_seq
      ), appended as (`;
    const insert = `insert into customer_events (tenant_id, id, seq, customer_id, type, actor, request_id, reason, note, changed_fields, details, time)
      select ${lit(tenant)}::uuid, ${lit(randomUUID())}::uuid, ${seq}, ${lit(customer)}::uuid, 'CUSTOMER_UPDATED', 'api_key:bench',
        ${lit(requestId)}::uuid, null, '', '["metadata"]'::jsonb, '{}'::jsonb, now()`;
    return variant === "sequence"
      ? `${insert};`
      : `${upsert} ${insert} from next returning tenant_id) select pg_notify(${lit(EVENTS_CHANNEL)}, tenant_id::text) from appended;`;
  };
  const transaction = async (c: pg.PoolClient, variant: Variant) => {
    const requestId = randomUUID();
    await c.query(`begin; select set_config('app.tenant_id', ${lit(tenant)}, true)`);
    await c.query({
      name: "claim",
      text: "insert into idempotency_records (tenant_id, request_id, method, fingerprint, response, resource_id, create_time) values ($1, $2, $3, $4, null, $5, now())",
      values: [tenant, requestId, "finhub.customer.v1.CustomerService/UpdateCustomer", "ab".repeat(32), customer],
    });
    await c.query(`${append(variant, requestId)} commit`);
    if (variant === "after-commit") await sequencer.numbered(tenant);
  };
  const run = async (variant: Variant) => {
    await Promise.all(clients.map((c) => transaction(c, variant))); // warm: statements prepared, rows cached
    for (const pid of await sequencerBackends()) if (!backends.includes(pid)) backends.push(pid);
    let started = 0;
    const ticks0 = backendTicks();
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        while (started < TRANSACTIONS) {
          started++;
          await transaction(c, variant);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { tps: started / seconds, cpuUs: ((backendTicks() - ticks0) / clockTicks() / started) * 1e6 };
  };

  log(`${CLIENTS} connections, ${TRANSACTIONS} transactions per variant and round, ${ROUNDS} rounds (database ${dbName})`);
  const results = new Map<Variant, Array<{ tps: number; cpuUs: number }>>(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      const r = await run(variant);
      results.get(variant)!.push(r);
      log(`round ${round + 1} ${variant.padEnd(8)} ${Math.round(r.tps)} transactions/s, ${Math.round(r.cpuUs)} µs of backend CPU per transaction`);
    }
  }
  const [, , numbered] = (await clients[0]!.query(
    `begin; select set_config('app.tenant_id', ${lit(tenant)}, true); select count(*) as n, max(seq) as max from customer_events where seq < 1000000000; commit`,
  )) as unknown as Array<pg.QueryResult<{ n: string; max: string }>>;
  log(`gapless numbers written: ${numbered!.rows[0]!.n}, the highest ${numbered!.rows[0]!.max} (the same: no gap)`);
  process.stdout.write("\nvariant   transactions/s   backend CPU µs/transaction   (median of the rounds)\n");
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  for (const [variant, rs] of results) {
    process.stdout.write(`${variant.padEnd(9)} ${String(Math.round(median(rs.map((r) => r.tps)))).padStart(14)}   ${String(Math.round(median(rs.map((r) => r.cpuUs)))).padStart(26)}\n`);
  }
  for (const c of clients) c.release();
  await pool.end();
  sequencerScopes.close();
  await sequencerOrm.close(true);
} finally {
  await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => undefined);
  await admin.end();
}
