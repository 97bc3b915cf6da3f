// In-process receivers for the codes the service sends, so API tests read them like a customer
// would: an SMTP server (the email notifier) and an HTTP webhook endpoint (the webhook notifier),
// both on 127.0.0.1 and an ephemeral port. Tests wait for a message with a bounded wait (woken by
// the arrival itself, never a sleep), and check webhook signatures with verifySignature.
import { EventEmitter } from "node:events";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

/** Collected messages, and a wait that resolves as soon as a matching one arrives. */
export class Inbox<T> {
  readonly messages: T[] = [];
  private readonly arrivals = new EventEmitter();

  constructor(private readonly what: string) {
    this.arrivals.setMaxListeners(0);
  }

  push(message: T): void {
    this.messages.push(message);
    this.arrivals.emit("message", message);
  }

  count(predicate: (m: T) => boolean = () => true): number {
    return this.messages.filter(predicate).length;
  }

  /** The first message (already received or arriving within timeoutMs) that matches; rejects
   * after timeoutMs. */
  async waitForMessage(predicate: (m: T) => boolean, timeoutMs = 5_000): Promise<T> {
    const found = await this.messageWithin(predicate, timeoutMs);
    if (found === undefined) {
      throw new Error(`no matching ${this.what} within ${timeoutMs} ms (${this.messages.length} received in all)`);
    }
    return found;
  }

  /** As waitForMessage, but undefined instead of an error when none matched in time (for
   * asserting that nothing else arrives). */
  messageWithin(predicate: (m: T) => boolean, timeoutMs: number): Promise<T | undefined> {
    const already = this.messages.find(predicate);
    if (already !== undefined) return Promise.resolve(already);
    return new Promise((resolve) => {
      const onMessage = (m: T) => {
        if (!predicate(m)) return;
        done(m);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (m: T | undefined) => {
        clearTimeout(timer);
        this.arrivals.off("message", onMessage);
        resolve(m);
      };
      this.arrivals.on("message", onMessage);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// SMTP

export interface ReceivedEmail {
  /** Envelope recipients (RCPT TO). */
  readonly to: string[];
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The verification code: the 6–10 digit run at the end of the subject ("…: your
   * verification code is 123456"); "" when there is none. */
  readonly code: string;
  readonly raw: string;
}

export interface SmtpReceiver extends Inbox<ReceivedEmail> {
  readonly port: number;
  /** smtp://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const inbox = new Inbox<ReceivedEmail>("email");
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", callback);
      stream.on("end", () => {
        try {
          const raw = Buffer.concat(chunks).toString("utf8");
          const envelope = session.envelope;
          inbox.push({
            ...parseEmail(raw),
            to: envelope.rcptTo.map((r) => r.address),
            from: envelope.mailFrom ? envelope.mailFrom.address : "",
            raw,
          });
          callback();
        } catch (err) {
          callback(err as Error);
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(inbox, {
    port,
    url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

interface MimePart {
  headers: Map<string, string>;
  body: string;
}

function splitPart(raw: string): MimePart {
  const normalised = raw.replace(/\r\n/g, "\n");
  const blank = normalised.indexOf("\n\n");
  const head = blank === -1 ? normalised : normalised.slice(0, blank);
  const body = blank === -1 ? "" : normalised.slice(blank + 2);
  const headers = new Map<string, string>();
  // Unfold continuation lines, then one header per line.
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeQuotedPrintable(s: string): string {
  const bytes: number[] = [];
  const text = s.replace(/=\n/g, "");
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function decodeBody(part: MimePart): string {
  const cte = (part.headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  if (cte === "base64") return Buffer.from(part.body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (cte === "quoted-printable") return decodeQuotedPrintable(part.body);
  return part.body;
}

/** RFC 2047 encoded words (=?utf-8?Q?...?= / =?utf-8?B?...?=), as nodemailer writes them. */
function decodeHeader(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, _charset: string, enc: string, data: string) =>
      enc.toUpperCase() === "B"
        ? Buffer.from(data, "base64").toString("utf8")
        : decodeQuotedPrintable(data.replace(/_/g, " ")),
    );
}

function collectParts(part: MimePart, out: { text: string; html: string }, depth = 0): void {
  const type = part.headers.get("content-type") ?? "text/plain";
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary !== undefined && depth < 5) {
    const sections = part.body.split(`--${boundary}`);
    // sections[0] is the preamble; the last one starts with "--" (the closing delimiter).
    for (const section of sections.slice(1)) {
      if (section.startsWith("--")) break;
      collectParts(splitPart(section.replace(/^\n/, "")), out, depth + 1);
    }
    return;
  }
  if (/^text\/html/i.test(type)) out.html += decodeBody(part);
  else if (/^text\/plain/i.test(type)) out.text += decodeBody(part);
}

/** Minimal parse of what nodemailer sends: subject, and the plain-text and HTML parts. */
export function parseEmail(raw: string): Omit<ReceivedEmail, "to" | "from" | "raw"> {
  const top = splitPart(raw);
  const subject = decodeHeader(top.headers.get("subject") ?? "");
  const out = { text: "", html: "" };
  collectParts(top, out);
  const code = /(?<!\d)(\d{6,10})\s*$/.exec(subject)?.[1] ?? "";
  return { subject, text: out.text, html: out.html, code };
}

// ---------------------------------------------------------------------------------------------
// Webhook

export interface ReceivedWebhook {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The raw body, exactly as received (what the signature covers). */
  readonly body: string;
  /** The body parsed as JSON (undefined if it is not JSON). */
  readonly json: any;
  /** The HTTP status this receiver answered with. */
  readonly answered: number;
}

export interface WebhookReceiver extends Inbox<ReceivedWebhook> {
  readonly port: number;
  /** http://127.0.0.1:<port>/hook */
  readonly url: string;
  /** true: answer 500 (a failed delivery); the body is still recorded. */
  failing: boolean;
  close(): Promise<void>;
}

export async function startWebhookReceiver(path = "/hook"): Promise<WebhookReceiver> {
  const inbox = new Inbox<ReceivedWebhook>("webhook call");
  // Assigned once listening; the handler reads `failing` from it on every request.
  let receiver: WebhookReceiver | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const status = req.url !== path ? 404 : receiver?.failing ? 500 : 204;
      inbox.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, json, answered: status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  receiver = Object.assign(inbox, {
    port,
    url: `http://127.0.0.1:${port}${path}`,
    failing: false,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return receiver;
}

/**
 * Checks an `x-customerms-signature` header as a receiver must (src/verification/
 * webhook.notifier.ts): "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", compared
 * in constant time, the timestamp within `toleranceSec` of `nowSec`.
 */
export function verifySignature(
  secret: string,
  header: string | string[] | undefined,
  body: string,
  toleranceSec = 300,
  nowSec = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== "string") return false;
  const fields = new Map<string, string>();
  for (const item of header.split(",")) {
    const eq = item.indexOf("=");
    if (eq > 0) fields.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim());
  }
  const t = fields.get("t");
  const v1 = fields.get("v1");
  if (t === undefined || !/^\d+$/.test(t) || v1 === undefined || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(nowSec - Number(t)) > toleranceSec) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}
