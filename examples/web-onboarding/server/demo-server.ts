// One small HTTP server for the example: it serves the built page (dist/) and is the tenant's
// backend endpoint POST /onboarding/session, which mints a session token with the secret API
// key held here and returns only that token (plus where customerms answers). customerms itself
// runs on its own port; the page's origin is in its CORS origins.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import type { SessionMinter } from "./tenant-backend.js";

export interface DemoServerOptions {
  /** The built page (examples/web-onboarding/dist). */
  readonly distDir: string;
  readonly host?: string;
  /** 0: any free port. */
  readonly port?: number;
  /** customerms as the BROWSER reaches it. */
  readonly apiBaseUrl: string;
  /** Mints a token for this page's origin (see tenant-backend.ts). Resolved per request, so the
   * tenant may be set up after the server listens (its origin is known only then). */
  readonly mint: () => SessionMinter;
  /** Called with each error of the session endpoint (the page only sees a 502). */
  readonly onError?: (err: unknown) => void;
}

export interface DemoServer {
  readonly port: number;
  /** http://<host>:<port> — the page's origin. */
  readonly origin: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

export async function startDemoServer(o: DemoServerOptions): Promise<DemoServer> {
  const host = o.host ?? "127.0.0.1";
  let origin = "";

  async function session(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only this page may ask (a browser always sends Origin on a POST from script).
    if (req.headers.origin !== origin) {
      res.writeHead(403, { "content-type": "application/json" }).end('{"error":"origin not allowed"}');
      return;
    }
    try {
      const minted = await o.mint()();
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ sessionToken: minted.sessionToken, expireTime: minted.expireTime, apiBaseUrl: o.apiBaseUrl }));
    } catch (err) {
      o.onError?.(err);
      res.writeHead(502, { "content-type": "application/json" }).end('{"error":"could not start an onboarding session"}');
    }
  }

  async function file(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const rel = normalize(decodeURIComponent(url.pathname === "/" ? "/index.html" : url.pathname)).replace(/^([/\\])+/, "");
    const path = join(o.distDir, rel);
    if (!path.startsWith(o.distDir + sep)) {
      res.writeHead(404).end();
      return;
    }
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(path)] ?? "application/octet-stream",
      "content-length": info.size,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
    createReadStream(path).pipe(res);
  }

  const server = createServer((req, res) => {
    const p = (req.url ?? "/").split("?")[0];
    if (p === "/onboarding/session" && req.method === "POST") {
      req.resume();
      void session(req, res);
    } else if (req.method === "GET" || req.method === "HEAD") {
      void file(req, res);
    } else {
      res.writeHead(405).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://${host}:${port}`;
  return {
    port,
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
