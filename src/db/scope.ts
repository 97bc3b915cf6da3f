// Transactions bound to a row-level-security scope (see the defence_in_depth migration and
// docs/architecture.md, "Tenant isolation in the database"). Every query of the service on a
// tenant table runs inside one of these:
// - tenant(id): set_config('app.tenant_id', id, true): the policies admit that tenant's rows only;
// - operator(reason): set_config('role', 'customerms_operator', true) plus the reason: the few
//   paths that span tenants (API key lookup, TenantService, CORS origins). Explicit and named.
// Both settings are transaction-scoped (`true`): a pooled connection never carries a tenant or
// the operator role into the next transaction, and a query outside these transactions fails.
import { AsyncLocalStorage } from "node:async_hooks";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import { AppError } from "../errors.js";

/** Runs `work` in one transaction of a fixed scope; commits on success, rolls back on error. */
export type Transact = <T>(work: (em: EntityManager) => Promise<T>) => Promise<T>;

export const APP_ROLE = "customerms_app";
export const OPERATOR_ROLE = "customerms_operator";

/** Why an operator transaction reads across tenants: named in code, visible in pg_stat_activity. */
export type OperatorReason =
  | "authenticate-api-key"
  | "record-api-key-use"
  | "cors-origins"
  | `TenantService/${string}`
  | `maintenance/${string}`;

/** The deadline (epoch ms) of the call being served, set by the deadline middleware. Each
 * transaction turns what is left of it into a transaction-local statement_timeout, so the
 * database stops working (and releases its locks) when the caller has stopped waiting. */
export const callDeadline = new AsyncLocalStorage<number>();

/** "set_config('statement_timeout', …, true)" for the current call's deadline, or "" without one. */
function timeoutSetting(): { sql: string; params: string[] } {
  const deadline = callDeadline.getStore();
  if (deadline === undefined) return { sql: "", params: [] };
  const left = Math.floor(deadline - Date.now());
  if (left <= 0) throw new AppError("DEADLINE_EXCEEDED", "the call's deadline passed", { reason: "DEADLINE_EXCEEDED" });
  return { sql: ", set_config('statement_timeout', ?, true)", params: [String(left)] };
}

export interface Scopes {
  tenant(tenantId: string): Transact;
  operator(reason: OperatorReason): Transact;
}

export function createScopes(orm: MikroORM): Scopes {
  return {
    tenant: (tenantId) => (work) =>
      orm.em.fork().transactional(async (em) => {
        const timeout = timeoutSetting();
        await em.execute(`select set_config('app.tenant_id', ?, true)${timeout.sql}`, [tenantId, ...timeout.params]);
        return work(em);
      }),
    operator: (reason) => (work) =>
      orm.em.fork().transactional(async (em) => {
        const timeout = timeoutSetting();
        await em.execute(
          `select set_config('role', '${OPERATOR_ROLE}', true), set_config('app.operator_reason', ?, true), set_config('application_name', ?, true)${timeout.sql}`,
          [reason, `customerms operator: ${reason}`.slice(0, 63), ...timeout.params],
        );
        return work(em);
      }),
  };
}
