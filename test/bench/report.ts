// The bench's outputs: test/bench/results/latest.json (ratios, targets, every point),
// latest.md (the tables), latency.svg (p50 and p99 against calls in flight, drawn by hand) and
// docs/performance.md (test/bench/performance.template.md filled in). Also the summary printed
// at the end of a run.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { benchDir, repoRoot, round, type LatencySummary, type ScenarioName, type Transport } from "./common.js";

export interface ScenarioInfo {
  readonly label: string;
  readonly transport: Transport;
  /** Which process answers: the service, the bare grpc-js echo or the hand-written pg service. */
  readonly server: "service" | "echo" | "handwritten";
  readonly kind: "echo" | "read" | "write" | "mixed";
  /** What the ratio column compares it with. */
  readonly baseline?: ScenarioName;
}

export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioInfo>> = {
  echo_service: { label: "Echo: Health/Check on the service's port", transport: "grpc", server: "service", kind: "echo", baseline: "echo_grpcjs" },
  echo_grpcjs: { label: "Echo: Health/Check on a bare grpc-js Server", transport: "grpc", server: "echo", kind: "echo" },
  get_grpc: { label: "GetCustomer", transport: "grpc", server: "service", kind: "read", baseline: "get_handwritten_grpc" },
  get_handwritten_grpc: { label: "GetCustomer, hand-written pg + grpc-js", transport: "grpc", server: "handwritten", kind: "read" },
  get_connect: { label: "GetCustomer", transport: "connect-json", server: "service", kind: "read", baseline: "get_handwritten_connect" },
  get_handwritten_connect: { label: "GetCustomer, hand-written pg + node:http", transport: "connect-json", server: "handwritten", kind: "read" },
  list_grpc: { label: "ListCustomers (page 50)", transport: "grpc", server: "service", kind: "read", baseline: "echo_service" },
  create_grpc: { label: "CreateCustomer (customer + event + idempotency rows)", transport: "grpc", server: "service", kind: "write", baseline: "create_handwritten_grpc" },
  create_handwritten_grpc: { label: "CreateCustomer, hand-written pg + grpc-js", transport: "grpc", server: "handwritten", kind: "write" },
  update_grpc: { label: "UpdateCustomer (metadata, update mask)", transport: "grpc", server: "service", kind: "write", baseline: "echo_service" },
  verify_grpc: { label: "StartEmailVerification + VerifyEmail (one op = 2 calls)", transport: "grpc", server: "service", kind: "write", baseline: "echo_service" },
  mixed_grpc: { label: "Mixed 80/15/5 (Get 70, List 10, Update 10, Create 5, verify 5)", transport: "grpc", server: "service", kind: "mixed", baseline: "echo_service" },
  scale_get_grpc: { label: "GetCustomer (scale check)", transport: "grpc", server: "service", kind: "read" },
  scale_list_grpc: { label: "ListCustomers page 50 (scale check)", transport: "grpc", server: "service", kind: "read" },
};

export interface PointReport extends LatencySummary {
  rps: number;
  calls: number;
  seconds: number;
  /** CPU time of the answering server process per completed call (user + system, µs). */
  cpu_us_per_call: number | null;
  /** CPU of the PostgreSQL backends of the bench database per call (µs). */
  db_cpu_us_per_call: number | null;
  /** CPU use over the window in % of one core: the answering server, the load process (near
   * 100 % means the client, not the server, set the pace), PostgreSQL backends, Redis, the whole
   * machine, and what is left: other processes (anything above a few % means a noisy machine). */
  server_cpu_pct: number | null;
  client_cpu_pct: number | null;
  db_cpu_pct: number | null;
  redis_cpu_pct: number | null;
  machine_cpu_pct: number | null;
  other_cpu_pct: number | null;
  /** Peak resident memory of the answering server during this point (sampled 10/s; with its
   * worker processes, if any, summed). */
  rss_mb: number;
  processes: number;
  errors: number;
  error_samples?: Record<string, number>;
  by_op?: Record<string, LatencySummary>;
  /** Measured in this many slices interleaved with its pair's (a service and its baseline). */
  slices?: number;
}

export interface ScaleReport {
  concurrency: number;
  quick: boolean;
  /** Each size in a database and service process of its own, the two measured in this many
   * interleaved slices each. */
  slices: number;
  /** customers: the scale tenant's; table_rows: all rows of the customers table of that database. */
  points: Array<{ customers: number; table_rows: number; get: PointReport; list: PointReport }>;
}

export interface BenchReport {
  machine: { cpus: number; model: string; mem_gb: number; os: string; node: string; pg: string; redis: string; busy_before_pct: number };
  quick: boolean;
  date: string;
  duration_s: number;
  settings: Record<string, unknown>;
  points: Partial<Record<ScenarioName, Record<number, PointReport>>>;
  scale?: ScaleReport;
  service: {
    processes: number;
    peak_rss_mb: number;
    idle_rss_mb: number;
    heap_idle: Record<string, number>;
    heap_end: Record<string, number>;
    rpc_codes: Record<string, number>;
  };
  checks: Record<string, unknown>;
}

interface Target {
  name: string;
  target: string;
  value: number | null;
  met: boolean | null;
}

const RATIO_AT = 32;
const RATIO_KEYS = {
  echo_grpc_vs_grpcjs_echo: ["echo_service", "echo_grpcjs"],
  get_grpc_vs_handwritten: ["get_grpc", "get_handwritten_grpc"],
  get_connect_vs_handwritten: ["get_connect", "get_handwritten_connect"],
  create_vs_handwritten: ["create_grpc", "create_handwritten_grpc"],
} as const satisfies Record<string, readonly [ScenarioName, ScenarioName]>;

const ratio = (a: number | undefined | null, b: number | undefined | null) => (a && b ? round(a / b, 3) : null);

/** `outDir` undefined: the standard outputs (test/bench/results/latest.*, docs/performance.md);
 * a directory: a variant run (--only, --profile, --service-env, --service-flags) writes
 * latest.{json,md} and latency.svg there and leaves the committed results alone. */
export async function writeReports(r: BenchReport, outDir?: string): Promise<string> {
  const p = r.points;
  const rps = (name: ScenarioName, c: number) => p[name]?.[c]?.rps;

  const ratios = Object.fromEntries(Object.entries(RATIO_KEYS).map(([k, [a, b]]) => [k, ratio(rps(a, RATIO_AT), rps(b, RATIO_AT))]));
  // The same comparison by CPU: the baseline's CPU per call / the service's (1.0 = as cheap).
  // On a small machine the load process competes for the cores, so this one is the steadier.
  const cpu = (name: ScenarioName) => p[name]?.[RATIO_AT]?.cpu_us_per_call;
  const ratiosCpu = Object.fromEntries(Object.entries(RATIO_KEYS).map(([k, [a, b]]) => [k, ratio(cpu(b), cpu(a))]));
  const byConcurrency = Object.fromEntries(
    Object.entries(RATIO_KEYS).map(([k, [a, b]]) => [k, Object.fromEntries([1, 8, 32, 128].map((c) => [c, ratio(rps(a, c), rps(b, c))]))]),
  );

  const scenarios: Record<string, unknown> = {};
  for (const [name, byC] of Object.entries(p) as Array<[ScenarioName, Record<number, PointReport>]>) {
    const info = SCENARIOS[name];
    const concurrency: Record<number, unknown> = {};
    for (const [c, point] of Object.entries(byC)) {
      const base = info.baseline ? p[info.baseline]?.[Number(c)] : undefined;
      concurrency[Number(c)] = {
        ...point,
        ...(base ? { rps_ratio: ratio(point.rps, base.rps), p99_ratio: ratio(point.p99_ms, base.p99_ms), cpu_per_call_ratio: ratio(point.cpu_us_per_call, base.cpu_us_per_call) } : {}),
      };
    }
    scenarios[name] = {
      label: info.label,
      transport: info.transport,
      server: info.server,
      ...(info.baseline ? { baseline: info.baseline } : {}),
      concurrency,
      p99_ms: byC[RATIO_AT]?.p99_ms ?? null,
      rss_mb: Math.max(...Object.values(byC).map((x) => x.rss_mb)),
    };
  }

  const scale = r.scale
    ? {
        ...r.scale,
        get_p99_ratio: ratio(r.scale.points[1]?.get.p99_ms, r.scale.points[0]?.get.p99_ms),
        list_p99_ratio: ratio(r.scale.points[1]?.list.p99_ms, r.scale.points[0]?.list.p99_ms),
      }
    : undefined;

  const targets: Target[] = [];
  const atLeast = (name: string, target: number, value: number | null | undefined, what = "") =>
    targets.push({ name, target: `≥ ${target}${what}`, value: value ?? null, met: value === null || value === undefined ? null : value >= target });
  const atMost = (name: string, target: number, value: number | null | undefined, what = "") =>
    targets.push({ name, target: `≤ ${target}${what}`, value: value ?? null, met: value === null || value === undefined ? null : value <= target });
  atLeast("echo over gRPC on the service's port / bare grpc-js echo (RPS at 32 in flight)", 0.9, ratios.echo_grpc_vs_grpcjs_echo);
  atLeast("GetCustomer gRPC / hand-written pg (RPS at 32 in flight)", 0.8, ratios.get_grpc_vs_handwritten);
  atLeast("GetCustomer Connect JSON / hand-written pg (RPS at 32 in flight)", 0.8, ratios.get_connect_vs_handwritten);
  atLeast("CreateCustomer / hand-written pg transaction (RPS at 32 in flight)", 0.8, ratios.create_vs_handwritten);
  for (const name of ["get_grpc", "get_connect", "list_grpc"] as const) {
    atMost(`p99 at 32 in flight, read: ${SCENARIOS[name].label} (${SCENARIOS[name].transport})`, 25, p[name]?.[RATIO_AT]?.p99_ms, " ms");
  }
  for (const name of ["create_grpc", "update_grpc", "verify_grpc"] as const) {
    atMost(`p99 at 32 in flight, write: ${SCENARIOS[name].label}`, 50, p[name]?.[RATIO_AT]?.p99_ms, " ms");
  }
  atMost(
    r.service.processes > 1
      ? `peak RSS of the service (sum of VmHWM of its ${r.service.processes} processes, whole run)`
      : "peak RSS of the service process (VmHWM, whole run)",
    250,
    r.service.peak_rss_mb,
    " MB",
  );
  if (scale) {
    const [small, large] = scale.points;
    const label = `${fmtInt(large?.customers ?? 0)} vs ${fmtInt(small?.customers ?? 0)} customers${r.quick ? " (quick: not the 1 000 000 of the target)" : ""}`;
    atMost(`GetCustomer p99 at ${label}`, 1.25, scale.get_p99_ratio, "×");
    atMost(`ListCustomers p99 at ${label}`, 1.25, scale.list_p99_ratio, "×");
  }

  const json = {
    machine: r.machine,
    quick: r.quick,
    date: r.date,
    duration_s: r.duration_s,
    settings: r.settings,
    ratios,
    ratios_at_concurrency: RATIO_AT,
    ratios_cpu: ratiosCpu,
    ratios_by_concurrency: byConcurrency,
    scenarios,
    ...(scale ? { scale } : {}),
    targets,
    service: r.service,
    checks: r.checks,
  };

  const results = outDir ?? join(benchDir, "results");
  await mkdir(results, { recursive: true });
  await writeFile(join(results, "latest.json"), `${JSON.stringify(json, null, 1)}\n`);
  const tables = markdownTables(r, ratios, ratiosCpu, targets, scale);
  await writeFile(join(results, "latest.md"), `# customerms bench: ${r.date} (${r.quick ? "quick" : "full"} run, ${r.duration_s} s)\n\n${machineLine(r)}\n\n${settingsLine(r)}\n\n${tables}`);
  await writeFile(join(results, "latency.svg"), svgChart(r));
  if (outDir !== undefined) return summaryText(r, ratios, targets, `${outDir}/latest.json, latest.md, latency.svg (a variant run: test/bench/results and docs/performance.md are left alone)`);
  const template = await readFile(join(benchDir, "performance.template.md"), "utf8");
  const doc = template
    .replaceAll("{{DATE}}", r.date)
    .replaceAll("{{MODE}}", r.quick ? "quick (`npm run bench -- --quick`: short points, scale check at 100 000 instead of 1 000 000)" : "full (`npm run bench`)")
    .replaceAll("{{DURATION}}", `${Math.round(r.duration_s / 60)} min ${r.duration_s % 60} s`)
    .replaceAll("{{MACHINE}}", machineLine(r))
    .replaceAll("{{SETTINGS}}", settingsLine(r))
    .replaceAll("{{TABLES}}", tables);
  await writeFile(join(repoRoot, "docs/performance.md"), doc);
  return summaryText(r, ratios, targets, "test/bench/results/latest.json, latest.md, latency.svg; docs/performance.md");
}

// ---------------------------------------------------------------------------------------------

const fmtInt = (n: number) => n.toLocaleString("en-US").replace(/,/g, " ");
const fmt = (n: number | null | undefined, digits = 2) => (n === null || n === undefined ? "—" : n.toFixed(digits));

function machineLine(r: BenchReport): string {
  const m = r.machine;
  return `Machine: ${m.cpus} × ${m.model}, ${m.mem_gb} GB RAM, ${m.os}; Node ${m.node}, PostgreSQL ${m.pg} and Redis ${m.redis} on the same machine.`;
}

function settingsLine(r: BenchReport): string {
  const s = r.settings as { warmupMs: number; durationMs: number; seedCustomers: number; verifyPool: number; pool_max: number; service_env: Record<string, string>; service_command: string };
  const env = Object.entries(s.service_env ?? {}).map(([k, v]) => `${k}=${v}`);
  return `${s.warmupMs / 1000} s warm-up then ${s.durationMs / 1000} s measured per point; ${s.seedCustomers} customers seeded through the API, ${s.verifyPool} unverified ones with SQL; database pool ${s.pool_max} connections per service process and in the hand-written baseline; LOG_LEVEL=warn; service: \`${s.service_command}\`${env.length > 0 ? ` with ${env.map((e) => `\`${e}\``).join(", ")}` : ""}.`;
}

function markdownTables(r: BenchReport, ratios: Record<string, number | null>, ratiosCpu: Record<string, number | null>, targets: Target[], scale: (ScaleReport & { get_p99_ratio: number | null; list_p99_ratio: number | null }) | undefined): string {
  const out: string[] = [];
  out.push("### Targets\n");
  out.push("| target | goal | measured | |");
  out.push("| --- | --- | --- | --- |");
  for (const t of targets) out.push(`| ${t.name} | ${t.target} | ${fmt(t.value)} | ${t.met === null ? "not measured" : t.met ? "met" : "**MISSED**"} |`);
  out.push("");
  out.push(`### Ratios (\`latest.json\` \`ratios\`, RPS at ${RATIO_AT} in flight; 1.0 = equal to the baseline)\n`);
  out.push("| key | RPS ratio | CPU ratio (baseline CPU per call / service CPU per call, `ratios_cpu`) |");
  out.push("| --- | --- | --- |");
  for (const [k, v] of Object.entries(ratios)) out.push(`| \`${k}\` | ${fmt(v)} | ${fmt(ratiosCpu[k])} |`);
  out.push("");
  out.push("### Every point\n");
  out.push("RPS: completed calls (operations) per second; latency of each call as the load process sees it; CPU: user + system time of the answering server process per call; DB CPU: that of the PostgreSQL backends of the bench database per call; RSS: peak resident memory of that process during the point; vs baseline: RPS ÷ the baseline's RPS, and in brackets CPU per call ÷ the baseline's CPU per call, at the same concurrency (the scenario named; for scenarios without a hand-written twin, the service's own echo: the share of the transport's capacity the operation reaches).\n");
  out.push("| scenario | transport | in flight | RPS | p50 ms | p99 ms | CPU µs/call | DB CPU µs/call | peak RSS MB | errors | vs baseline: RPS (CPU per call) |");
  out.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const [name, byC] of Object.entries(r.points) as Array<[ScenarioName, Record<number, PointReport>]>) {
    const info = SCENARIOS[name];
    for (const [c, x] of Object.entries(byC)) {
      const base = info.baseline ? r.points[info.baseline]?.[Number(c)] : undefined;
      const vs = base ? `${fmt(ratio(x.rps, base.rps))}× (${fmt(ratio(x.cpu_us_per_call, base.cpu_us_per_call))}×) \`${info.baseline}\`` : "baseline";
      out.push(`| ${info.label} | ${info.transport} | ${c} | ${fmtInt(Math.round(x.rps))} | ${fmt(x.p50_ms)} | ${fmt(x.p99_ms)} | ${x.cpu_us_per_call ?? "—"} | ${x.db_cpu_us_per_call ?? "—"} | ${fmt(x.rss_mb, 0)} | ${x.errors} | ${vs} |`);
    }
  }
  out.push("");
  const all: Array<[string, PointReport]> = [
    ...Object.entries(r.points).flatMap(([n, byC]) => Object.entries(byC).map(([c, x]) => [`${n}@${c}`, x] as [string, PointReport])),
    ...(r.scale?.points ?? []).flatMap((s) => [[`scale_get@${s.customers}`, s.get], [`scale_list@${s.customers}`, s.list]] as Array<[string, PointReport]>),
  ];
  const noisy = all.filter(([, x]) => (x.other_cpu_pct ?? 0) > 20).map(([k, x]) => `${k} (${x.other_cpu_pct} %)`);
  out.push(
    noisy.length === 0
      ? `Machine: quiet during every point (other processes below 20 % of a core; ${r.machine.busy_before_pct} % before the start).\n`
      : `**Noisy machine**: other processes used more than 20 % of a core during ${noisy.length} points: ${noisy.join(", ")} — those figures are not reliable.\n`,
  );
  const mixed = r.points.mixed_grpc?.[RATIO_AT]?.by_op;
  if (mixed) {
    out.push(`Mixed workload at ${RATIO_AT} in flight, per operation: ${Object.entries(mixed).map(([k, v]) => `${k} p50 ${fmt(v.p50_ms)} / p99 ${fmt(v.p99_ms)} ms (${v.count} ops)`).join("; ")}.\n`);
  }
  if (scale) {
    out.push(
      `### Scale check (${scale.concurrency} in flight; each size a database and service process of its own, measured in ${scale.slices} interleaved slices each${scale.quick ? "; quick run: 100 000, not 1 000 000" : ""})\n`,
    );
    out.push("| the tenant's customers | rows in the table | GetCustomer RPS | p50 ms | p99 ms | ListCustomers RPS | p50 ms | p99 ms |");
    out.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const s of scale.points) {
      out.push(
        `| ${fmtInt(s.customers)} | ${fmtInt(s.table_rows)} | ${fmtInt(Math.round(s.get.rps))} | ${fmt(s.get.p50_ms)} | ${fmt(s.get.p99_ms)} | ${fmtInt(Math.round(s.list.rps))} | ${fmt(s.list.p50_ms)} | ${fmt(s.list.p99_ms)} |`,
      );
    }
    out.push(`| p99 ratio | | | | ${fmt(scale.get_p99_ratio)}× | | | ${fmt(scale.list_p99_ratio)}× |`);
    out.push("");
  }
  out.push("### Service\n");
  out.push(`Processes: ${r.service.processes}${r.service.processes > 1 ? " (a primary and node:cluster workers; CPU and RSS are summed over them)" : ""}. Peak RSS (VmHWM, whole run including seeding; the scale check has service processes of its own): ${r.service.peak_rss_mb} MB; ${r.service.idle_rss_mb} MB idle after start (V8 heap used ${r.service.heap_idle.heap_used_mb} of ${r.service.heap_idle.heap_total_mb} MB; at the end ${r.service.heap_end.heap_used_mb} of ${r.service.heap_end.heap_total_mb} MB, garbage included: from the service's /metrics${r.service.processes > 1 ? " of whichever worker answered" : ""}).`);
  const notOk = Object.entries(r.service.rpc_codes).filter(([k]) => !k.endsWith(":OK") && !k.endsWith(":ok"));
  const total = Object.values(r.service.rpc_codes).reduce((a, b) => a + b, 0);
  out.push(`RPCs counted by the service's /metrics${r.service.processes > 1 ? " (of the one worker that answered GET /metrics)" : ""}: ${fmtInt(total)}; not OK: ${notOk.length === 0 ? "none" : notOk.map(([k, v]) => `${k} ${v}`).join(", ")}.`);
  const c = r.checks as { handwritten_rows_read_by_service?: boolean; webhook?: { received: number; badSignature: number }; service_warnings?: number };
  if (c.handwritten_rows_read_by_service !== undefined) {
    out.push(`Rows written by the hand-written CreateCustomer, read back through the service's GetCustomer: ${c.handwritten_rows_read_by_service ? "identical (date of birth opens with the tenant key, identifier masked)" : "**DIFFERENT**"}.`);
  }
  if (c.webhook) out.push(`Verification codes received by the bench's webhook: ${fmtInt(c.webhook.received)} (bad signatures: ${c.webhook.badSignature}).`);
  out.push(`Warnings and errors in the service's log (LOG_LEVEL=warn): ${c.service_warnings ?? 0}.`);
  out.push("");
  return out.join("\n");
}

function summaryText(r: BenchReport, ratios: Record<string, number | null>, targets: Target[], written: string): string {
  const lines = [`customerms bench (${r.quick ? "quick" : "full"}) — ${machineLine(r)}`, ""];
  lines.push("scenario                      in flight       RPS   p50 ms   p99 ms  CPU µs/call  RSS MB  errors  vs baseline");
  for (const [name, byC] of Object.entries(r.points) as Array<[ScenarioName, Record<number, PointReport>]>) {
    const info = SCENARIOS[name];
    for (const [c, x] of Object.entries(byC)) {
      const base = info.baseline ? r.points[info.baseline]?.[Number(c)] : undefined;
      lines.push(
        `${name.padEnd(30)}${c.padStart(9)}${Math.round(x.rps).toString().padStart(10)}${fmt(x.p50_ms).padStart(9)}${fmt(x.p99_ms).padStart(9)}${String(x.cpu_us_per_call ?? "—").padStart(13)}${fmt(x.rss_mb, 0).padStart(8)}${String(x.errors).padStart(8)}  ${base ? `${fmt(ratio(x.rps, base.rps))}× ${info.baseline}` : ""}`,
      );
    }
  }
  lines.push("", `ratios (RPS at ${RATIO_AT} in flight): ${Object.entries(ratios).map(([k, v]) => `${k}=${fmt(v)}`).join("  ")}`, "", "targets:");
  for (const t of targets) lines.push(`  ${t.met === null ? "n/a   " : t.met ? "met   " : "MISSED"}  ${t.name}: ${fmt(t.value)} (goal ${t.target})`);
  lines.push("", `written: ${written}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The chart: p50 and p99 latency against calls in flight (log-log), one line per scenario.

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function svgChart(r: BenchReport): string {
  const names = (Object.keys(r.points) as ScenarioName[]).filter((n) => !n.startsWith("scale"));
  const xs = [1, 8, 32, 128];
  const values = names.flatMap((n) => Object.values(r.points[n]!).flatMap((x) => [x.p50_ms, x.p99_ms])).filter((v) => v > 0);
  const steps = (from: number, to: number) => {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(from)); e <= Math.ceil(Math.log10(to)); e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
    return out;
  };
  const loV = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const hiV = steps(loV, Math.max(...values, 60)).find((v) => v >= Math.max(...values, 60))!;
  const lo = Math.log10(loV);
  const hi = Math.log10(hiV);
  const W = 1160;
  const H = 480;
  const panel = { w: 360, h: 330, top: 72 };
  const lefts = [70, 500];
  const xPos = (left: number, c: number) => left + (Math.log2(c) / 7) * panel.w;
  const yPos = (ms: number) => panel.top + panel.h - ((Math.log10(Math.max(ms, loV)) - lo) / (hi - lo)) * panel.h;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2 - 120}" y="24" font-size="16" font-weight="bold">customerms: latency vs. calls in flight</text>`);
  out.push(`<text x="${W / 2 - 120}" y="42" fill="#555">${esc(`${r.date.slice(0, 16).replace("T", " ")} UTC, ${r.quick ? "quick" : "full"} run, ${r.machine.cpus} × ${r.machine.model}`)}</text>`);
  ["p50", "p99"].forEach((which, i) => {
    const left = lefts[i]!;
    out.push(`<text x="${left + panel.w / 2 - 40}" y="${panel.top - 6}" font-weight="bold">${which} latency (ms)</text>`);
    out.push(`<rect x="${left}" y="${panel.top}" width="${panel.w}" height="${panel.h}" fill="none" stroke="#333"/>`);
    for (const v of steps(loV, hiV).filter((v) => v >= loV && v <= hiV)) {
      const y = yPos(v);
      const major = String(v).startsWith("1");
      out.push(`<line x1="${left}" x2="${left + panel.w}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${major ? "#ccc" : "#eee"}"/>`);
      out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#333">${Number(v.toPrecision(1))}</text>`);
    }
    if (which === "p99") {
      for (const [ms, label] of [[25, "read target 25 ms"], [50, "write target 50 ms"]] as const) {
        const y = yPos(ms).toFixed(1);
        out.push(`<line x1="${left}" x2="${left + panel.w}" y1="${y}" y2="${y}" stroke="#c00" stroke-dasharray="2 3"/>`);
        out.push(`<text x="${left + 4}" y="${Number(y) - 3}" fill="#c00" font-size="10">${label}</text>`);
      }
    }
    for (const c of xs) {
      const x = xPos(left, c);
      out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${panel.top}" y2="${panel.top + panel.h}" stroke="#ddd"/>`);
      out.push(`<text x="${x.toFixed(1)}" y="${panel.top + panel.h + 16}" text-anchor="middle">${c}</text>`);
    }
    out.push(`<text x="${left + panel.w / 2}" y="${panel.top + panel.h + 34}" text-anchor="middle">calls in flight (log scale)</text>`);
    names.forEach((name, k) => {
      const byC = r.points[name]!;
      const pts = xs.filter((c) => byC[c] !== undefined).map((c) => `${xPos(left, c).toFixed(1)},${yPos(which === "p50" ? byC[c]!.p50_ms : byC[c]!.p99_ms).toFixed(1)}`);
      const dashed = SCENARIOS[name].server !== "service" ? ` stroke-dasharray="6 4"` : "";
      out.push(`<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2"${dashed} points="${pts.join(" ")}"/>`);
      for (const pt of pts) {
        const [x, y] = pt.split(",");
        out.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${COLORS[k % COLORS.length]}"/>`);
      }
    });
  });
  const lx = 890;
  out.push(`<text x="${lx}" y="${panel.top - 6}" font-weight="bold">scenario (dashed: baseline)</text>`);
  names.forEach((name, k) => {
    const y = panel.top + 12 + k * 26;
    const dashed = SCENARIOS[name].server !== "service" ? ` stroke-dasharray="6 4"` : "";
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${y}" y2="${y}" stroke="${COLORS[k % COLORS.length]}" stroke-width="2"${dashed}/>`);
    out.push(`<text x="${lx + 30}" y="${y + 4}">${esc(name)}</text>`);
    out.push(`<text x="${lx + 30}" y="${y + 16}" fill="#666" font-size="10">${esc(SCENARIOS[name].transport)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
