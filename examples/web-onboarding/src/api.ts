// The page's only credential is a short-lived session token (`cms_st_…`) that the tenant's own
// backend mints with its secret API key (see server/tenant-backend.ts). The page asks that
// backend for one, then calls customerms directly with Connect-Web, over the Connect protocol or
// gRPC-Web (`?transport=grpcweb`), using the same generated code as the service (gen/).
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { CustomerService } from "../../../gen/finhub/customer/v1/customer_service_pb.js";
import { VerificationService } from "../../../gen/finhub/customer/v1/verification_service_pb.js";

export type TransportKind = "connect" | "grpcweb";

/** What the tenant backend hands the page: never an API key. */
export interface OnboardingSession {
  /** `cms_st_…`, limited to one customer's onboarding RPCs and this page's origin. */
  readonly sessionToken: string;
  /** Where customerms answers (its CORS configuration allows this page's origin). */
  readonly apiBaseUrl: string;
  /** RFC 3339. */
  readonly expireTime: string;
}

export interface Api {
  readonly transport: TransportKind;
  readonly customers: Client<typeof CustomerService>;
  readonly verification: Client<typeof VerificationService>;
}

export function transportFromLocation(search: string): TransportKind {
  return new URLSearchParams(search).get("transport") === "grpcweb" ? "grpcweb" : "connect";
}

/** Asks the tenant's backend (same origin as the page) for a session token. */
export async function fetchSession(): Promise<OnboardingSession> {
  const res = await fetch("/onboarding/session", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  if (!res.ok) throw new Error(`the onboarding backend answered ${res.status}`);
  const body = (await res.json()) as Partial<OnboardingSession>;
  if (typeof body.sessionToken !== "string" || !body.sessionToken.startsWith("cms_st_") || typeof body.apiBaseUrl !== "string") {
    throw new Error("the onboarding backend did not return a session token");
  }
  return { sessionToken: body.sessionToken, apiBaseUrl: body.apiBaseUrl, expireTime: String(body.expireTime ?? "") };
}

export function createApi(session: OnboardingSession, kind: TransportKind): Api {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${session.sessionToken}`);
    return next(req);
  };
  const options = { baseUrl: session.apiBaseUrl, interceptors: [auth] };
  const transport: Transport = kind === "grpcweb" ? createGrpcWebTransport(options) : createConnectTransport(options);
  return {
    transport: kind,
    customers: createClient(CustomerService, transport),
    verification: createClient(VerificationService, transport),
  };
}
