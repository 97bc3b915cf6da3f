// `npx tsx test/bench/burst.ts [--service-flags="<node flags>"] [--in-flight=128] [--mib=3] [--rounds=3]`
//
// A burst of large requests against the service as `npm start` runs it (dist/, the start script's
// flags, plus --service-flags): `--in-flight` CreateCustomer calls at once, each carrying a
// metadata value of `--mib` MiB (far over the 500-character limit, but under the 4 MiB message
// limit, so the service must receive, decode and reject each one), over gRPC (HTTP/2, the fast
// path) and then Connect JSON (HTTP/1.1). It answers one question: does a heap-size flag (e.g.
// --max-old-space-size) survive such a burst, and how high does the RSS go? It prints the codes,
// the service's peak RSS (VmHWM) and whether it is still alive; exit code 1 if it died.
// Uses the local PostgreSQL (a throwaway database, dropped at the end) and the in-memory twins.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { build } from "../../scripts/build.js";
import { grpc, grpcClients, metadata, unary } from "../support/grpc.js";
import { cleanEnv, spawnService, startCommand, stop, waitListening } from "../support/process.js";
import { gbIndividual } from "./common.js";
import { memory } from "./procfs.js";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const FLAGS = arg("service-flags", "").split(" ").filter((f) => f !== "");
const IN_FLIGHT = Number(arg("in-flight", "128"));
const MIB = Number(arg("mib", "3"));
const ROUNDS = Number(arg("rounds", "3"));
const PG_SERVER = process.env.BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

const log = (m: string) => process.stdout.write(`[burst] ${m}\n`);
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

await build();
const hex = randomBytes(5).toString("hex");
const dbName = `cms_burst_${hex}`;
const admin = new pg.Client({ connectionString: PG_SERVER });
await admin.connect();
await admin.query(`create database ${dbName}`);
const dbUrl = new URL(PG_SERVER);
dbUrl.pathname = `/${dbName}`;
const dataDir = await mkdtemp(join(tmpdir(), "cms-burst-"));
const adminToken = `burst-admin-${randomBytes(16).toString("hex")}`;

const [command, ...startArgs] = startCommand();
const entry = startArgs.pop()!;
const argv = [...startArgs, ...FLAGS, entry];
log(`service: ${command} ${argv.join(" ")}; ${ROUNDS} rounds of ${IN_FLIGHT} calls of ${MIB} MiB, gRPC then Connect JSON`);
const child = spawnService(command!, argv, cleanEnv({
  PORT: "0",
  HOST: "127.0.0.1",
  DATABASE_URL: dbUrl.toString(),
  CUSTOMERMS_MIGRATE_ON_START: "true",
  CUSTOMERMS_ADMIN_TOKEN: adminToken,
  CUSTOMERMS_MASTER_KEY: Buffer.alloc(32, 0x5a).toString("base64"),
  CUSTOMERMS_SECRET: randomBytes(24).toString("hex"),
  CUSTOMERMS_DATA_DIR: dataDir,
  LOG_LEVEL: "info",
}));

let peak = 0;
const sampler = setInterval(() => {
  try {
    peak = Math.max(peak, memory(child.proc.pid!).peak);
  } catch {
    // gone
  }
}, 50);
const alive = () => child.proc.exitCode === null && child.proc.signalCode === null;
let died = false;
try {
  const port = await waitListening(child);
  log(`listening on ${port}, ${mb(memory(child.proc.pid!).rss)} resident when idle`);
  const clients = grpcClients(port);
  const tenant = await unary(clients.tenants, "createTenant", { tenant: { displayName: `burst ${hex}` }, requestId: randomUUID() }, metadata({ authorization: `Bearer ${adminToken}` }));
  const apiKey = tenant.apiKey as string;
  const blob = "x".repeat(MIB * 1048576 - 4096);
  let n = 0;
  const customer = () => ({ ...gbIndividual(`burst${n}@example.com`, `+4479${String(++n).padStart(8, "0")}`), metadata: { blob } });

  for (let round = 1; round <= ROUNDS && alive(); round++) {
    for (const transport of ["grpc", "connect-json"] as const) {
      const codes = new Map<string, number>();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          let code: string;
          if (transport === "grpc") {
            code = await unary(clients.customers, "createCustomer", { customer: customer(), requestId: randomUUID() }, metadata({ authorization: `Bearer ${apiKey}` }), { deadline: Date.now() + 60_000 }).then(
              () => "OK",
              (err: grpc.ServiceError) => grpc.status[err.code] ?? String(err.code),
            );
          } else {
            code = await fetch(`http://127.0.0.1:${port}/finhub.customer.v1.CustomerService/CreateCustomer`, {
              method: "POST",
              headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
              body: JSON.stringify({ customer: customer(), requestId: randomUUID() }),
              signal: AbortSignal.timeout(60_000),
            }).then(
              async (res) => `${res.status} ${((await res.json().catch(() => ({}))) as { code?: string }).code ?? ""}`.trim(),
              (err: Error) => `fetch: ${err.message}`,
            );
          }
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }),
      );
      log(`round ${round} ${transport}: ${[...codes].map(([c, k]) => `${k}× ${c}`).join(", ")} in ${Math.round(performance.now() - t0)} ms; peak RSS so far ${mb(peak)}; ${alive() ? "alive" : "DEAD"}`);
      if (!alive()) break;
    }
  }
  clients.close();
  died = !alive();
} finally {
  clearInterval(sampler);
  if (died || !alive()) log(`the service DIED (${child.proc.exitCode ?? child.proc.signalCode}):\n${child.stderr().slice(-3_000)}`);
  await stop(child);
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
  await rm(dataDir, { recursive: true, force: true });
}
log(`peak RSS (VmHWM) ${mb(peak)}; ${died ? "DIED" : "survived"}`);
process.exitCode = died ? 1 : 0;
