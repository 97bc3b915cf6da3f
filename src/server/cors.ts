// CORS for browser origins: CUSTOMERMS_CORS_ORIGINS plus every tenant's cors_origins (exact
// matches), with the header lists Connect and gRPC-Web need. A preflight carries no credentials,
// so the tenant is unknown there: the allowed set is the union. Requests from other origins get
// no CORS headers, so browsers refuse them; preflights from them get 403.
import type http from "node:http";
import type http2 from "node:http2";
import { cors } from "@connectrpc/connect";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

const ALLOW_METHODS = cors.allowedMethods.join(", ");
const ALLOW_HEADERS = [...cors.allowedHeaders, "Authorization"].join(", ");
const EXPOSE_HEADERS = cors.exposedHeaders.join(", ");

export function withCors(isAllowed: (origin: string) => boolean, next: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return next(req, res);
    const ok = isAllowed(origin);
    if (ok) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Vary", "Origin");
      res.setHeader("Access-Control-Expose-Headers", EXPOSE_HEADERS);
    }
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      if (!ok) {
        res.statusCode = 403;
        res.end();
        return;
      }
      res.setHeader("Access-Control-Allow-Methods", ALLOW_METHODS);
      res.setHeader("Access-Control-Allow-Headers", ALLOW_HEADERS);
      res.setHeader("Access-Control-Max-Age", "7200");
      res.statusCode = 204;
      res.end();
      return;
    }
    next(req, res);
  };
}

/** The configured origins plus the tenants' ones, refreshed in the background (a tenant's new
 * origin is allowed within one refresh interval on every replica). */
export class CorsOrigins {
  private tenantOrigins = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly configured: readonly string[],
    private readonly loadTenantOrigins: () => Promise<string[]>,
    private readonly refreshMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Forget the cache (after a tenant changed its origins on this replica). */
  invalidate(): void {
    void this.refresh();
  }

  isAllowed = (origin: string): boolean => this.configured.includes(origin) || this.tenantOrigins.has(origin);

  private async refresh(): Promise<void> {
    try {
      this.tenantOrigins = new Set(await this.loadTenantOrigins());
    } catch (err) {
      this.onError(err as Error); // keep the last known set
    }
  }
}
