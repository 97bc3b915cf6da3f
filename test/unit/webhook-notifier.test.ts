// The webhook notifier (verification codes to the tenant's endpoint) against a local HTTP server:
// signed JSON on a kept-alive connection, a 2xx answer delivers, anything else fails (a redirect
// is not followed), and no answer fails at the timeout.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { VerificationMessage } from "../../src/verification/notifier.js";
import { signWebhook, WebhookNotifier } from "../../src/verification/webhook.notifier.js";

const SECRET = "whsec-test-secret";
const message = (code: string): VerificationMessage => ({
  tenantId: "11111111-1111-4111-8111-111111111111",
  tenantName: "Acme",
  customerId: "22222222-2222-4222-8222-222222222222",
  channel: "email",
  destination: "ada@example.com",
  code,
  expireTime: new Date("2026-12-07T10:00:00.000Z"),
  sendTime: new Date("2026-12-07T09:50:00.000Z"),
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A receiver answering with `answer`; records bodies, signatures, paths and connections. */
async function receiver(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Array<{ path: string; body: string; signature: string }> = [];
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ path: req.url ?? "", body: Buffer.concat(chunks).toString("utf8"), signature: String(req.headers["x-customerms-signature"]) });
      answer(req, res);
    });
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, seen, connections: () => connections };
}

describe("WebhookNotifier", () => {
  it("POSTs the signed JSON; a 2xx answer delivers; deliveries share one kept-alive connection", async () => {
    const r = await receiver((_req, res) => res.writeHead(204).end());
    const notifier = new WebhookNotifier(r.url, SECRET);
    await notifier.send(message("123456"));
    await notifier.send(message("654321"));
    expect(r.seen.map((s) => s.path)).toEqual(["/hook", "/hook"]);
    const first = JSON.parse(r.seen[0]!.body);
    expect(first).toEqual({
      tenant_id: "11111111-1111-4111-8111-111111111111",
      customer_id: "22222222-2222-4222-8222-222222222222",
      channel: "email",
      destination: "ada@example.com",
      code: "123456",
      expire_time: "2026-12-07T10:00:00.000Z",
    });
    const t = Number(/^t=(\d+),/.exec(r.seen[0]!.signature)![1]);
    expect(r.seen[0]!.signature).toBe(signWebhook(SECRET, t, r.seen[0]!.body));
    expect(r.connections()).toBe(1);
  });

  it("fails on a non-2xx answer, and on a redirect, which it does not follow", async () => {
    const failing = await receiver((_req, res) => res.writeHead(500).end("no"));
    await expect(new WebhookNotifier(failing.url, SECRET).send(message("1"))).rejects.toThrow("webhook answered HTTP 500");
    const moved = await receiver((req, res) => (req.url === "/hook" ? res.writeHead(302, { location: "/elsewhere" }).end() : res.writeHead(204).end()));
    await expect(new WebhookNotifier(moved.url, SECRET).send(message("2"))).rejects.toThrow("webhook answered HTTP 302");
    expect(moved.seen.map((s) => s.path)).toEqual(["/hook"]);
  });

  it("fails when the receiver does not answer within the timeout", async () => {
    const silent = await receiver(() => undefined);
    const started = Date.now();
    await expect(new WebhookNotifier(silent.url, SECRET, 200).send(message("3"))).rejects.toThrow("did not answer within 200 ms");
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
