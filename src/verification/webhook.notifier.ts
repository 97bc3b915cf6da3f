// Delivery through an HTTP webhook: POST of JSON {tenant_id, customer_id, channel,
// destination, code, expire_time}, signed like Stripe's webhooks:
//   x-customerms-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// The receiver recomputes the HMAC and rejects stale timestamps. 5 s timeout; non-2xx fails.
import { createHmac } from "node:crypto";
import type { Notifier, VerificationMessage } from "./notifier.js";

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export class WebhookNotifier implements Notifier {
  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly timeoutMs = 5_000,
  ) {}

  async send(m: VerificationMessage): Promise<void> {
    const body = JSON.stringify({
      tenant_id: m.tenantId,
      customer_id: m.customerId,
      channel: m.channel,
      destination: m.destination,
      code: m.code,
      expire_time: m.expireTime.toISOString(),
    });
    const res = await fetch(this.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-customerms-signature": signWebhook(this.secret, Math.floor(Date.now() / 1000), body),
      },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: "error",
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}`);
  }
}
