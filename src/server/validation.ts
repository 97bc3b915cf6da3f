// Shape validation of every request with protovalidate, from the buf.validate annotations in
// proto/. Failure: INVALID_ARGUMENT with a buf.validate.Violations detail (a field path per
// violation) and ErrorInfo reason INVALID_ARGUMENT. Business rules live in the domain.
import { createValidator, violationsToProto } from "@bufbuild/protovalidate";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorInfo } from "./errors.js";
import type { Middleware } from "./pipeline.js";

export function validationMiddleware(): Middleware {
  const validator = createValidator();
  return async (call, next) => {
    const result = validator.validate(call.method.input, call.message);
    if (result.kind === "valid") return await next(call);
    if (result.kind === "error") throw result.error; // a broken rule is a bug: INTERNAL, logged
    const summary = result.violations
      .map((v) => `${pathToString(v.field)}: ${v.message}`)
      .join("; ");
    const [violations, schema] = violationsToProto(result.violations);
    throw new ConnectError(summary, Code.InvalidArgument, undefined, [
      errorInfo("INVALID_ARGUMENT"),
      { desc: schema, value: violations },
    ]);
  };
}
