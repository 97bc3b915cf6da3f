// The tenant's backend, reduced to the one thing the browser flow needs from it: it holds the
// tenant's SECRET API key (server-side only) and mints a short-lived session token for each
// onboarding with CustomerService.CreateSessionToken, restricted to the page's origin. The
// browser only ever receives the `cms_st_…` token, which can do nothing but one customer's
// onboarding RPCs.
import { Duration } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CustomerService } from "../../../gen/finhub/customer/v1/customer_service_pb.js";

export interface MintedSession {
  readonly sessionToken: string;
  /** RFC 3339. */
  readonly expireTime: string;
}

export interface TenantBackendOptions {
  /** customerms, as this backend reaches it. */
  readonly apiBaseUrl: string;
  /** The tenant's secret API key (read, write and verify scopes). Never sent to a browser. */
  readonly apiKey: string;
  /** The browser origin the tokens are for (e.g. "https://app.example.com"). */
  readonly pageOrigin: string;
  /** Default 30 minutes. */
  readonly ttlSeconds?: number;
}

export type SessionMinter = () => Promise<MintedSession>;

export function createSessionMinter(o: TenantBackendOptions): SessionMinter {
  const customers = createClient(CustomerService, createConnectTransport({ baseUrl: o.apiBaseUrl, httpVersion: "1.1" }));
  return async () => {
    const res = await customers.createSessionToken(
      { allowedOrigins: [o.pageOrigin], ...(o.ttlSeconds ? { ttl: { seconds: BigInt(o.ttlSeconds) } satisfies Partial<Duration> } : {}) },
      { headers: { authorization: `Bearer ${o.apiKey}` }, timeoutMs: 10_000 },
    );
    const exp = res.session?.expireTime;
    return {
      sessionToken: res.sessionToken,
      expireTime: exp ? new Date(Number(exp.seconds) * 1000 + Math.floor(exp.nanos / 1e6)).toISOString() : "",
    };
  };
}
