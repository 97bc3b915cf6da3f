// Server errors, shaped for the form: field violations (buf.validate.Violations, the one
// violation detail type customerms sends) keyed by their path with the request's top-level
// message stripped ("customer.address.postal_code" -> "address.postal_code"), plus the stable
// ErrorInfo reason and its metadata (e.g. attempts_left on a wrong code).
import { ConnectError } from "@connectrpc/connect";
import { ViolationsSchema, type FieldPath } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";

export interface ServerProblem {
  /** The error's message for people. */
  readonly message: string;
  /** ErrorInfo.reason, e.g. CODE_MISMATCH; "" when there is none. */
  readonly reason: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** path (without the request field's prefix) -> message */
  readonly fields: ReadonlyMap<string, string>;
}

/** "business.representatives[0].given_name" from a FieldPath. */
export function pathToString(path: FieldPath | undefined): string {
  if (path === undefined) return "";
  return path.elements
    .map((e) => {
      const s = e.subscript;
      return s.case === undefined ? e.fieldName : `${e.fieldName}[${String(s.value)}]`;
    })
    .join(".");
}

export function describeError(err: unknown, requestField = "customer"): ServerProblem {
  const ce = ConnectError.from(err);
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const fields = new Map<string, string>();
  for (const detail of ce.findDetails(ViolationsSchema)) {
    for (const v of detail.violations) {
      let path = pathToString(v.field);
      if (path.startsWith(`${requestField}.`)) path = path.slice(requestField.length + 1);
      if (!fields.has(path)) fields.set(path, v.message);
    }
  }
  return { message: ce.rawMessage, reason: info?.reason ?? "", metadata: { ...(info?.metadata ?? {}) }, fields };
}
