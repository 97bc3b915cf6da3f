// Shared by the bench processes (run.ts, loader.ts, baseline.ts): the protos as a grpc-js client
// sees them, the shapes exchanged over IPC, customer data, deterministic ids and statistics.
// Nothing here imports src/: the bench uses the service only through its port and env vars.
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { completeIndividual } from "../support/fixtures.js";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const benchDir = join(repoRoot, "test/bench");

/** proto/ as proto-loader reads it: camelCase fields, enum names, int64 as strings, oneof names,
 * no defaults on decode (less work for the load client; identical for every target). */
export function loadProtos(): grpc.GrpcObject & Record<string, any> {
  return grpc.loadPackageDefinition(loadDefinition()) as any;
}

export function loadDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(
    [
      "finhub/customer/v1/customer_service.proto",
      "finhub/customer/v1/verification_service.proto",
      "finhub/tenant/v1/tenant_service.proto",
      "grpc/health/v1/health.proto",
    ],
    {
      includeDirs: [join(repoRoot, "proto"), join(repoRoot, "proto/vendor")],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Scenarios and results

export type Transport = "grpc" | "connect-json";

export type ScenarioName =
  | "echo_service"
  | "echo_grpcjs"
  | "get_grpc"
  | "get_handwritten_grpc"
  | "get_connect"
  | "get_handwritten_connect"
  | "list_grpc"
  | "create_grpc"
  | "create_handwritten_grpc"
  | "update_grpc"
  | "verify_grpc"
  | "mixed_grpc"
  | "scale_get_grpc"
  | "scale_list_grpc";

/** What the loader is asked to run: one scenario at one concurrency against one port. */
export interface RunSpec {
  readonly scenario: ScenarioName;
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The tenant's key the calls carry (the echo scenarios send none). */
  readonly apiKey: string;
  /** Customer ids to read / update (GetCustomer, UpdateCustomer, mixed). */
  readonly pool: "main" | "scale";
  /** With pool "scale": how many customers the scale tenant of the target holds (ids 1..n). */
  readonly scaleCount?: number;
  /** Return every latency of the window too (RunResult.latencies), for slices to be merged. */
  readonly keepLatencies?: boolean;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly mean_ms: number;
}

export interface RunResult extends LatencySummary {
  readonly scenario: ScenarioName;
  readonly concurrency: number;
  readonly seconds: number;
  readonly rps: number;
  readonly errors: number;
  /** A few distinct error messages with their counts. */
  readonly errorSamples: Record<string, number>;
  /** Mixed workload: the same figures per operation kind. */
  readonly byOp?: Record<string, LatencySummary>;
  /** Ids created during the run (CreateCustomer scenarios), for the follow-up checks. */
  readonly createdSample?: string[];
  /** Every latency of the window (ms), when the spec asked for them. */
  readonly latencies?: number[];
}

/** Loader -> orchestrator messages. */
export type LoaderMessage =
  | { type: "ready"; webhookPort: number }
  | { type: "measuring"; id: number }
  | { type: "reply"; id: number; ok: true; value: unknown }
  | { type: "reply"; id: number; ok: false; error: string };

/** Orchestrator -> loader requests. */
export type LoaderRequest =
  | { id: number; cmd: "setup"; port: number; adminToken: string; name: string }
  | { id: number; cmd: "seed"; port: number; apiKey: string; count: number; concurrency: number }
  | { id: number; cmd: "pools"; main: string[]; verify: { tag: string; count: number }; scale: { tag: string; count: number } }
  | { id: number; cmd: "run"; spec: RunSpec }
  | { id: number; cmd: "check"; port: number; apiKey: string; ids: string[] }
  | { id: number; cmd: "stats" };

// ---------------------------------------------------------------------------------------------
// Data

/** md5-derived UUIDs, the same as PostgreSQL's md5(text)::uuid: the SQL seeding and the loader
 * agree on the ids of bulk-inserted customers without shipping them. */
export function md5Uuid(text: string): string {
  const h = createHash("md5").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Id of the n-th (1-based) bulk-inserted customer of a seed tag (SQL: md5(tag || ':' || n)::uuid). */
export const bulkId = (tag: string, n: number) => md5Uuid(`${tag}:${n}`);

/** A complete, valid GB individual: the tests' own fixture with the bench's unique contacts. */
export function gbIndividual(email: string, phoneNumber: string) {
  return completeIndividual("GB", { email, phoneNumber });
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** A growable array of latencies in milliseconds. */
export class Samples {
  private data = new Float64Array(1 << 14);
  length = 0;

  push(ms: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = ms;
  }

  /** The recorded latencies, in recording order. */
  values(): number[] {
    return Array.from(this.data.subarray(0, this.length));
  }

  /** Exact percentiles of everything recorded (sorted copy; nearest-rank). */
  summary(): LatencySummary {
    const n = this.length;
    if (n === 0) return { count: 0, p50_ms: 0, p90_ms: 0, p99_ms: 0, max_ms: 0, mean_ms: 0 };
    const sorted = this.data.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i]!;
    return { count: n, p50_ms: round(at(0.5)), p90_ms: round(at(0.9)), p99_ms: round(at(0.99)), max_ms: round(sorted[n - 1]!), mean_ms: round(sum / n) };
  }
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
