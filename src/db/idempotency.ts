// Runs a use case in one transaction, made idempotent by a caller-chosen request_id (AIP-155).
// The claim (an insert into idempotency_records) happens in the same transaction as the write:
// a concurrent duplicate blocks on the primary key until the first commits, then replays its
// stored response. The same request_id with another method or body is refused.
import type { EntityManager } from "@mikro-orm/postgresql";
import { UniqueConstraintViolationException } from "@mikro-orm/core";
import { AppError } from "../errors.js";
import { IdempotencyEntity } from "./idempotency.entity.js";

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

export async function runIdempotent<T>(
  em: EntityManager,
  key: IdempotencyKey | undefined,
  codec: Codec<T>,
  work: (em: EntityManager) => Promise<T>,
): Promise<T> {
  if (key === undefined) return em.transactional(work);
  try {
    return await em.transactional(async (tx) => {
      await tx.insert(IdempotencyEntity, {
        tenantId: key.scope,
        requestId: key.requestId,
        method: key.method,
        fingerprint: key.fingerprint,
        response: null,
        createTime: new Date(),
      });
      const result = await work(tx);
      await tx.nativeUpdate(
        IdempotencyEntity,
        { tenantId: key.scope, requestId: key.requestId },
        { response: Buffer.from(codec.encode(result)) },
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
  const first = await em.fork().findOne(IdempotencyEntity, { tenantId: key.scope, requestId: key.requestId });
  if (first === null || first.response === null) {
    throw new AppError("ABORTED", "a request with this request_id is still being processed; retry", {
      reason: "REQUEST_IN_PROGRESS",
    });
  }
  if (first.method !== key.method || first.fingerprint !== key.fingerprint) throw reused();
  return codec.decode(first.response);
}
