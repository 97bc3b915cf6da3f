// Verification policy and code rules (DESIGN §6). Pure: node:crypto only.
//
// Codes: digits from crypto.randomInt; stored only as HMAC-SHA256(secret, code bound to tenant,
// customer, channel and destination), so a stolen store yields nothing usable and a code sent to
// one address cannot verify another. Compared in constant time.
import { createHmac, randomInt, timingSafeEqual } from "node:crypto";

export type Channel = "email" | "phone";

export interface VerificationPolicy {
  readonly codeLength: number;
  readonly codeTtlMs: number;
  readonly maxAttempts: number;
  readonly sendBudgetPerMinute: number;
}

export const DEFAULT_POLICY: VerificationPolicy = Object.freeze({
  codeLength: 6,
  codeTtlMs: 10 * 60_000,
  maxAttempts: 5,
  sendBudgetPerMinute: 600,
});

/** Fixed limits (DESIGN §6): not tenant-tunable. */
export const RESEND_COOLDOWN_MS = 30_000;
export const SENDS_PER_CONTACT_PER_HOUR = 5;
export const VERIFY_FAILURES_PER_CUSTOMER_PER_HOUR = 10;

/** A tenant's overrides (0/undefined = default), clamped into the safe bounds. */
export function effectivePolicy(overrides: Partial<VerificationPolicy> | undefined): VerificationPolicy {
  const pick = (v: number | undefined, d: number, min: number, max: number) =>
    v === undefined || v === 0 ? d : Math.min(max, Math.max(min, Math.trunc(v)));
  return {
    codeLength: pick(overrides?.codeLength, DEFAULT_POLICY.codeLength, 6, 10),
    codeTtlMs: pick(overrides?.codeTtlMs, DEFAULT_POLICY.codeTtlMs, 120_000, 1_800_000),
    maxAttempts: pick(overrides?.maxAttempts, DEFAULT_POLICY.maxAttempts, 3, 10),
    sendBudgetPerMinute: pick(overrides?.sendBudgetPerMinute, DEFAULT_POLICY.sendBudgetPerMinute, 1, 100_000),
  };
}

export function generateCode(length: number): string {
  return randomInt(0, 10 ** length).toString().padStart(length, "0");
}

export interface CodeBinding {
  readonly tenantId: string;
  readonly customerId: string;
  readonly channel: Channel;
  readonly destination: string;
}

/** Unambiguous encoding of several fields (no separator can be forged inside one). */
function lengthPrefixed(fields: readonly string[]): string {
  return fields.map((f) => `${Buffer.byteLength(f)}:${f}`).join("");
}

export function hashCode(secret: Buffer, binding: CodeBinding, code: string): string {
  return createHmac("sha256", secret).update(lengthPrefixed([binding.tenantId, binding.customerId, binding.channel, binding.destination, code])).digest("hex");
}

/** A keyed hash of a destination: identifies it in store keys without revealing it. */
export function hashDestination(secret: Buffer, binding: Omit<CodeBinding, "customerId">): string {
  return createHmac("sha256", secret).update(lengthPrefixed(["dest", binding.tenantId, binding.channel, binding.destination])).digest("hex").slice(0, 32);
}

const HEX_HASH = /^(?:[0-9a-f]{2})+$/;

export function sameHash(a: string, b: string): boolean {
  if (!HEX_HASH.test(a) || !HEX_HASH.test(b)) return false; // Buffer.from(hex) drops bad digits
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** "jane@example.com" -> "j***@example.com"; "+447911123456" -> "+44*******56" (always 7 stars). */
export function maskDestination(channel: Channel, destination: string): string {
  if (channel === "email") {
    const at = destination.lastIndexOf("@");
    if (at <= 0) return "***";
    return `${destination[0]}***${destination.slice(at)}`;
  }
  // A fixed run of stars: the mask does not reveal the number's length.
  if (destination.length <= 5) return "*".repeat(7);
  return `${destination.slice(0, 3)}*******${destination.slice(-2)}`;
}
