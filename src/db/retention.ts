// Deletes what the service keeps only for a while (docs/architecture.md §8):
// - idempotency records: a request_id is honoured for CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS
//   (the contract promises at least 24 hours; 0 keeps them for good). Their stored responses are
//   sealed copies of personal data, so keeping them longer than retries need is a cost, not a
//   feature.
// - session tokens, a day after they expire (until then a caller still hears "expired", not
//   "unknown token"); they are useless afterwards.
// A pass runs shortly after start and then every `intervalMs`, as the operator with the reason
// "maintenance/retention" (the fifth path that spans tenants, docs/security.md). It deletes in
// batches of RETENTION_BATCH, tenant by tenant on the (tenant_id, create_time | expire_time)
// indexes, rows locked by a concurrent pass skipped (replicas sweep side by side without waiting
// on each other), and at most MAX_BATCHES per table and pass, so one pass stays short.
import { ADMIN_SCOPE } from "./idempotency.js";
import type { Scopes } from "./scope.js";

export const RETENTION_BATCH = 1_000;
export const MAX_BATCHES = 100;
/** A batch's statement_timeout: a pass never holds a connection for long (nor a shutdown). */
const BATCH_TIMEOUT_MS = 30_000;
/** How long an expired session token is kept before it is deleted. */
export const SESSION_TOKEN_GRACE_MS = 24 * 3_600_000;

/** Every tenant, and the operator calls' scope (TenantService's request_ids). */
const SCOPES = `(select "id" from "tenants" union all select '${ADMIN_SCOPE}'::uuid) as t(id)`;

/** One batch: the rows of `table` whose `column` is before the first parameter, at most the
 * second per tenant and the third in all (the lateral join stops pulling rows, and locking
 * them, once it has enough). */
const purge = (table: string, key: string, column: string) =>
  `with doomed as (
     select r."tenant_id", r."${key}" from ${SCOPES}
     cross join lateral (
       select "tenant_id", "${key}" from "${table}"
       where "tenant_id" = t.id and "${column}" < ? order by "${column}" limit ? for update skip locked
     ) r
     limit ?)
   delete from "${table}" x using doomed d where x."tenant_id" = d."tenant_id" and x."${key}" = d."${key}"`;

const PURGE_IDEMPOTENCY = purge("idempotency_records", "request_id", "create_time");
const PURGE_SESSION_TOKENS = purge("session_tokens", "id", "expire_time");

export interface RetentionPass {
  readonly idempotencyRecords: number;
  readonly sessionTokens: number;
}

export interface RetentionLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionPass> | undefined;
  private stopped = false;
  /** The last pass failed: later failures are not logged again until one succeeds. */
  private failed = false;

  constructor(
    private readonly scopes: Scopes,
    /** How long idempotency records are kept; undefined = for good. */
    private readonly idempotencyRetentionMs: number | undefined,
    private readonly log: RetentionLog,
    private readonly intervalMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A first pass after `firstDelayMs` (not in the way of the start), then one every interval. */
  start(firstDelayMs = 30_000): void {
    const first = setTimeout(() => {
      if (this.stopped) return;
      void this.pass();
      this.timer = setInterval(() => void this.pass(), this.intervalMs);
      this.timer.unref();
    }, firstDelayMs);
    first.unref();
    this.timer = first;
  }

  /** No further passes; waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer); // the first pass's timeout or the interval: Node clears either
    await this.running?.catch(() => undefined);
  }

  /** One pass now (or the one under way). Rejects when the database does; the timer's passes log. */
  runOnce(): Promise<RetentionPass> {
    this.running ??= this.sweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    try {
      const done = await this.runOnce();
      this.failed = false;
      if (done.idempotencyRecords + done.sessionTokens > 0) this.log.info({ ...done }, "retention: deleted expired records");
    } catch (err) {
      if (!this.failed) this.log.warn({ err: (err as Error).message }, "retention: a pass failed; retrying at the next one");
      this.failed = true;
    }
  }

  private async sweep(): Promise<RetentionPass> {
    const now = this.now();
    const idempotencyRecords =
      this.idempotencyRetentionMs === undefined ? 0 : await this.purge(PURGE_IDEMPOTENCY, new Date(now - this.idempotencyRetentionMs));
    const sessionTokens = await this.purge(PURGE_SESSION_TOKENS, new Date(now - SESSION_TOKEN_GRACE_MS));
    return { idempotencyRecords, sessionTokens };
  }

  /** Batches of `sql` (each its own short transaction) until one deletes less than a batch. */
  private async purge(sql: string, before: Date): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES && !this.stopped; i++) {
      const deleted = await this.scopes.operator("maintenance/retention", Date.now() + BATCH_TIMEOUT_MS)(async (em) => {
        const result = await em.execute<{ affectedRows: number }>(sql, [before, RETENTION_BATCH, RETENTION_BATCH], "run");
        return result.affectedRows;
      });
      total += deleted;
      if (deleted < RETENTION_BATCH) break;
    }
    return total;
  }
}
