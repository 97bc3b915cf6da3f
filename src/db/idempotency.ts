// Runs a use case in one scoped transaction, made idempotent by a caller-chosen request_id (AIP-155).
// The claim (an insert into idempotency_records) happens in the same transaction as the write:
// a concurrent duplicate blocks on the primary key until the first commits, then replays its
// stored response. The same request_id with another method or body is refused.
import type { EntityManager } from "@mikro-orm/postgresql";
import { UniqueConstraintViolationException } from "@mikro-orm/core";
import { AppError } from "../errors.js";
import { IdempotencyEntity } from "./idempotency.entity.js";
import { deferUntilCommit, sendWithBegin, type Transact } from "./scope.js";
import { byteaLiteral, literal, renderAll, statement } from "./sql.js";

// Hand-written statements (db/sql.ts): every create runs both.
const CLAIM = statement(
  "idempotency_claim",
  `insert into "idempotency_records" ("tenant_id", "request_id", "method", "fingerprint", "response", "resource_id", "create_time")
   values ($1, $2, $3, $4, null, null, $5)`,
);
const lit = literal;

/** Scope of operator calls (TenantService), which have no tenant. */
export const ADMIN_SCOPE = "00000000-0000-0000-0000-000000000000";

export interface IdempotencyKey {
  readonly scope: string;
  readonly requestId: string;
  readonly method: string;
  readonly fingerprint: string;
}

export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

function reused(): AppError {
  return new AppError(
    "ALREADY_EXISTS",
    "request_id was already used for a different request; use a new request_id for a new request",
    { reason: "REQUEST_ID_REUSED" },
  );
}

/** Seals stored responses (they show personal data) with the tenant's data key. */
export interface ResponseProtection {
  sealBytes(plaintext: Uint8Array, aad: string): Buffer;
  openBytes(sealed: Uint8Array, aad: string): Buffer;
}

export interface IdempotencyOptions<T> {
  /** The resource the response shows (stored so that erasing it deletes the copy). */
  readonly resourceOf?: (result: T) => string | undefined;
  /** Given: the response is stored sealed. Records sealed earlier start with "v2.". */
  readonly protect?: (em: EntityManager) => Promise<ResponseProtection>;
}

/**
 * `transact` opens the scoped transaction (db/scope.ts) the claim, the work and a replay's read
 * run in. The claim travels with the transaction's first statement (scope.ts sendWithBegin), so
 * a duplicate is found when the work first reaches the database: work must send a statement
 * before any effect outside it (VerificationService.start reads the customer before it sends a
 * code). Work that never reaches the database finds it at the commit.
 */
export async function runIdempotent<T>(
  transact: Transact,
  key: IdempotencyKey | undefined,
  codec: Codec<T>,
  work: (em: EntityManager) => Promise<T>,
  options: IdempotencyOptions<T> = {},
): Promise<T> {
  if (key === undefined) return transact(work);
  const aad = `${key.scope}/${key.requestId}/idempotency-response`;
  try {
    return await transact(async (tx) => {
      // With the begin, before the work: a duplicate fails (or waits for the first to commit)
      // with whatever the work sends first, or with the commit; no round trip of its own.
      sendWithBegin(tx, renderAll(CLAIM, [key.scope, key.requestId, key.method, key.fingerprint, new Date()]));
      const result = await work(tx);
      const encoded = codec.encode(result);
      const protection = await options.protect?.(tx);
      // Sent with the commit (scope.ts deferUntilCommit): nothing in the transaction reads it.
      const response = protection ? protection.sealBytes(encoded, aad) : Buffer.from(encoded);
      const resource = options.resourceOf?.(result);
      deferUntilCommit(
        tx,
        `update "idempotency_records" set "response" = ${byteaLiteral(response)}::bytea, ` +
          `"resource_id" = ${resource === undefined ? "null" : `${lit(resource)}::uuid`} ` +
          `where "tenant_id" = ${lit(key.scope)}::uuid and "request_id" = ${lit(key.requestId)}::uuid`,
      );
      return result;
    });
  } catch (err) {
    // The driver error's own fields are copied onto MikroORM's exception (constraint included).
    const constraint = (err as { constraint?: unknown }).constraint;
    if (!(err instanceof UniqueConstraintViolationException) || constraint !== "idempotency_records_pkey") {
      throw err;
    }
  }
  return transact(async (em) => {
    const first = await em.findOne(IdempotencyEntity, { tenantId: key.scope, requestId: key.requestId }, { disableIdentityMap: true });
    if (first === null || first.response === null) {
      throw new AppError("ABORTED", "a request with this request_id is still being processed; retry", {
        reason: "REQUEST_IN_PROGRESS",
      });
    }
    if (first.method !== key.method || first.fingerprint !== key.fingerprint) throw reused();
    const stored = first.response;
    const sealed = stored.subarray(0, 3).toString("ascii") === "v2.";
    return codec.decode(sealed && options.protect ? (await options.protect(em)).openBytes(stored, aad) : stored);
  });
}
