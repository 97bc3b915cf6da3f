// Error mapping: everything a handler throws leaves the server as a ConnectError with a stable
// google.rpc.ErrorInfo (domain customerms.finhub). AppError maps by its code; database
// connectivity errors become UNAVAILABLE; anything else is INTERNAL with the cause logged (never
// sent). Field violations use one detail type everywhere: buf.validate.Violations.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ViolationsSchema, FieldPathElementSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { ErrorInfoSchema, PreconditionFailureSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AppError, type ErrorCode, type FieldViolation } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { Call, Middleware } from "./pipeline.js";

export const ERROR_DOMAIN = "customerms.finhub";

type OutgoingDetail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];

const CODES: Record<ErrorCode, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  UNAUTHENTICATED: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  ABORTED: Code.Aborted,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  UNAVAILABLE: Code.Unavailable,
  DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  INTERNAL: Code.Internal,
};

export function errorInfo(reason: string, metadata: Record<string, string> = {}): OutgoingDetail {
  return { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata } };
}

/** "customer.business.representatives.1.id" -> field path elements, a numeric segment (or a
 * "name[1]" suffix) becoming the index of the list field before it — the shape protovalidate
 * itself produces, so clients read every violation the same way. */
export function fieldPathElements(path: string) {
  const elements: Array<ReturnType<typeof create<typeof FieldPathElementSchema>>> = [];
  for (const segment of path.split(".")) {
    const bracket = /^(.+)\[(\d+)\]$/.exec(segment);
    const last = elements.at(-1);
    if (/^\d+$/.test(segment) && last !== undefined) {
      last.subscript = { case: "index", value: BigInt(segment) };
    } else if (bracket) {
      elements.push(create(FieldPathElementSchema, { fieldName: bracket[1], subscript: { case: "index", value: BigInt(bracket[2]!) } }));
    } else {
      elements.push(create(FieldPathElementSchema, { fieldName: segment }));
    }
  }
  return elements;
}

/** buf.validate.Violations for violations found outside protovalidate (domain rules). */
export function violationsDetail(violations: readonly FieldViolation[]): OutgoingDetail {
  return {
    desc: ViolationsSchema,
    value: create(ViolationsSchema, {
      violations: violations.map((v) => ({ field: { elements: fieldPathElements(v.field) }, ruleId: v.ruleId, message: v.message })),
    }),
  };
}

export function toConnectError(err: AppError): ConnectError {
  const details: OutgoingDetail[] = [errorInfo(err.reason, { ...err.metadata })];
  if (err.violations.length > 0) details.push(violationsDetail(err.violations));
  if (err.retryAfterMs !== undefined) {
    const ms = err.retryAfterMs;
    details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 } } });
  }
  if (err.preconditions.length > 0) {
    details.push({ desc: PreconditionFailureSchema, value: { violations: err.preconditions.map((p) => ({ ...p })) } });
  }
  return new ConnectError(err.message, CODES[err.code], undefined, details, err);
}

// PostgreSQL / driver failures that mean "the database is not reachable right now".
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53)/;
const UNAVAILABLE_NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

/** PostgreSQL gave up on the statement at the call's deadline: its statement_timeout (57014), or
 * its lock_timeout (55P03: only Scopes.tenantCall sets one, from the deadline; no statement of the
 * service locks with NOWAIT). */
function isStatementTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "57014" || code === "55P03") return true;
  }
  return false;
}

function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const sqlState = (e as { sqlState?: unknown }).sqlState;
    if (typeof code === "string" && (UNAVAILABLE_NODE_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    if (typeof sqlState === "string" && UNAVAILABLE_SQLSTATE.test(sqlState)) return true;
    // knex ends a transaction whose connection died (pg_terminate_backend, a lost socket) and
    // answers the transaction's next query "Transaction query already complete": the same loss.
    if (/Connection terminated|connection timeout|Timeout acquiring a connection|Client has encountered a connection error|Transaction query already complete/i.test(e.message)) {
      return true;
    }
  }
  return false;
}

/** What may be logged of an unexpected error: no message text that could echo row values. */
export function describeCause(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const e = err as Error & { code?: unknown; sqlState?: unknown; constraint?: unknown; table?: unknown };
  const isDriverError = e.sqlState !== undefined || /Exception$/.test(e.name);
  return {
    type: e.name,
    code: e.code,
    sqlState: e.sqlState,
    constraint: e.constraint,
    table: e.table,
    // Driver exceptions embed the SQL with its parameters in the message: never log it.
    message: isDriverError ? undefined : e.message,
    stack: isDriverError ? undefined : e.stack,
  };
}

/** Maps whatever the rest of the chain throws to a ConnectError. */
export function errorMiddleware(logger: Logger): Middleware {
  const map = errorMapper(logger);
  return async (call, next) => {
    try {
      return await next(call);
    } catch (err) {
      throw map(err, call);
    }
  };
}

/** The mapping itself, also used for errors raised while a stream is flowing. */
export function errorMapper(logger: Logger): (err: unknown, call?: Call) => ConnectError {
  return (err, call) => {
    if (err instanceof AppError) return toConnectError(err);
    if (err instanceof ConnectError) {
      if (err.findDetails(ErrorInfoSchema).length > 0) return err;
      // Errors raised by Connect itself or by a transport (deadline, cancel, framing): add the ErrorInfo.
      return new ConnectError(err.rawMessage, err.code, err.metadata, [errorInfo(Code[err.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase())], err);
    }
    if (call?.signal.aborted || isStatementTimeout(err)) {
      return new ConnectError("the call's deadline passed or it was cancelled", Code.DeadlineExceeded, undefined, [
        errorInfo("DEADLINE_EXCEEDED"),
      ]);
    }
    const rpc = call ? `${call.method.parent.typeName}/${call.method.name}` : undefined;
    if (isDatabaseUnavailable(err)) {
      logger.warn({ rpc, cause: describeCause(err) }, "database unavailable");
      return new ConnectError("the database is unavailable; retry with backoff", Code.Unavailable, undefined, [
        errorInfo("DATABASE_UNAVAILABLE"),
      ]);
    }
    logger.error({ rpc, cause: describeCause(err) }, "unexpected error");
    return new ConnectError("internal error", Code.Internal, undefined, [errorInfo("INTERNAL")]);
  };
}
