// CORS for the browser origins in CUSTOMERMS_CORS_ORIGINS (exact matches), with the header
// lists Connect and gRPC-Web need. Requests from other origins get no CORS headers, so browsers
// refuse them; preflights from them get 403.
import type http from "node:http";
import type http2 from "node:http2";
import { cors } from "@connectrpc/connect";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

const ALLOW_METHODS = cors.allowedMethods.join(", ");
const ALLOW_HEADERS = [...cors.allowedHeaders, "Authorization"].join(", ");
const EXPOSE_HEADERS = cors.exposedHeaders.join(", ");

export function withCors(origins: readonly string[], next: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return next(req, res);
    const ok = allowed.has(origin);
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
