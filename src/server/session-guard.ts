// What a session token (CustomerService.CreateSessionToken) may do: one customer's onboarding.
// The RPCs it may call, and for each how the request names the customer. Checked in two places:
// auth.ts refuses any other RPC (before validation, like scopes); sessionGuardMiddleware, after
// validation, answers a request for any customer but the token's own exactly like an unknown id.
import type { DescMethod, Message } from "@bufbuild/protobuf";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { VerificationService } from "../../gen/finhub/customer/v1/verification_service_pb.js";
import { AppError, notFound } from "../errors.js";
import type { Middleware } from "./pipeline.js";

type CustomerOf = (message: Message) => string;
const byId: CustomerOf = (m) => (m as unknown as { id: string }).id;
const byCustomerId: CustomerOf = (m) => (m as unknown as { customerId: string }).customerId;
const byCustomer: CustomerOf = (m) => (m as unknown as { customer?: { id: string } }).customer?.id ?? "";

/** Method full name -> the customer it acts on ("create": CreateCustomer, which binds the token). */
const SESSION_METHODS = new Map<string, CustomerOf | "create">([
  [`${CustomerService.typeName}/CreateCustomer`, "create"],
  [`${CustomerService.typeName}/GetCustomer`, byId],
  [`${CustomerService.typeName}/GetCustomerRequirements`, byId],
  [`${CustomerService.typeName}/UpdateCustomer`, byCustomer],
  [`${CustomerService.typeName}/ActivateCustomer`, byId],
  [`${VerificationService.typeName}/StartEmailVerification`, byCustomerId],
  [`${VerificationService.typeName}/VerifyEmail`, byCustomerId],
  [`${VerificationService.typeName}/StartPhoneVerification`, byCustomerId],
  [`${VerificationService.typeName}/VerifyPhone`, byCustomerId],
]);

const fullName = (method: DescMethod) => `${method.parent.typeName}/${method.name}`;


export function sessionMayCall(method: DescMethod): boolean {
  return SESSION_METHODS.has(fullName(method));
}

export function sessionNotAllowed(method: DescMethod): AppError {
  return new AppError("PERMISSION_DENIED", `a session token cannot call ${method.name}; call it from your backend with an API key`, {
    reason: "SESSION_TOKEN_NOT_ALLOWED",
  });
}

/** After validation: a session call about any customer but its own is answered as NOT_FOUND. */
export function sessionGuardMiddleware(): Middleware {
  // Not async: an API-key call (the common case) passes straight through, without a promise of its own.
  return (call, next) => {
    const session = call.principal?.kind === "tenant" ? call.principal.session : undefined;
    if (session === undefined) return next(call);
    const customerOf = SESSION_METHODS.get(fullName(call.method));
    if (customerOf === undefined) return Promise.reject(sessionNotAllowed(call.method));
    if (customerOf === "create") return next(call); // binding happens in the create's transaction
    const id = customerOf(call.message).toLowerCase();
    if (session.customerId === null || id !== session.customerId.toLowerCase()) {
      return Promise.reject(notFound("CUSTOMER_NOT_FOUND", `customer ${id} not found`));
    }
    return next(call);
  };
}
