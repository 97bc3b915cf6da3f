// Transport-neutral application errors. Domain and service code throws AppError; the server's
// error interceptor (src/server/errors.ts) maps it to a Connect/gRPC status with details. This
// file imports nothing, so any layer may use it.

/** The subset of gRPC codes the service answers with on purpose. */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "ABORTED"
  | "FAILED_PRECONDITION"
  | "RESOURCE_EXHAUSTED"
  | "UNAVAILABLE"
  | "DEADLINE_EXCEEDED"
  | "INTERNAL";

/** One bad field: `field` is a dotted path in the request message, e.g. "customer.email". */
export interface FieldViolation {
  readonly field: string;
  readonly ruleId: string;
  readonly message: string;
}

/** One unmet precondition (google.rpc.PreconditionFailure.Violation). */
export interface PreconditionViolation {
  /** Stable UPPER_SNAKE kind, e.g. EMAIL_NOT_VERIFIED. */
  readonly type: string;
  readonly subject: string;
  readonly description: string;
}

export interface AppErrorOptions {
  /** Stable UPPER_SNAKE reason, sent as google.rpc.ErrorInfo.reason. */
  readonly reason: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly violations?: readonly FieldViolation[];
  readonly preconditions?: readonly PreconditionViolation[];
  /** For RESOURCE_EXHAUSTED: when to retry (google.rpc.RetryInfo). */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

export class AppError extends Error {
  override name = "AppError";
  readonly code: ErrorCode;
  readonly reason: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly violations: readonly FieldViolation[];
  readonly preconditions: readonly PreconditionViolation[];
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
    this.metadata = options.metadata ?? {};
    this.violations = options.violations ?? [];
    this.preconditions = options.preconditions ?? [];
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function notFound(reason: string, message: string): AppError {
  return new AppError("NOT_FOUND", message, { reason });
}

export function invalidArgument(violations: readonly FieldViolation[], reason = "INVALID_ARGUMENT"): AppError {
  const summary = violations.map((v) => `${v.field}: ${v.message}`).join("; ");
  return new AppError("INVALID_ARGUMENT", summary, { reason, violations });
}
