// Verification use cases: send a code (limits, store, deliver) and check one (attempts, expiry,
// destination, single use), then mark the contact verified in PostgreSQL.
//
// Fail closed: any error of the code store or the limiters (Redis down) is UNAVAILABLE, never a
// success; a code is consumed before the customer is marked verified, so no code is ever
// accepted twice. Answers never tell how close a wrong code was.
import { randomBytes } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { AppError } from "../errors.js";
import type { Customer } from "../customers/customer.js";
import type { Actor, CustomerService } from "../customers/customer.service.js";
import type { TenantProfile } from "../tenants/tenant.service.js";
import type { CodeKey, CodeStore } from "./code.store.js";
import type { Notifier } from "./notifier.js";
import {
  RESEND_COOLDOWN_MS,
  effectivePolicy,
  generateCode,
  hashCode,
  hashDestination,
  maskDestination,
  sameHash,
  type Channel,
} from "./policy.js";
import type { VerificationLimits } from "./rate-limits.js";

export interface StartResult {
  readonly expireTime: Date;
  readonly resendTime: Date;
  readonly destination: string;
  readonly codeLength: number;
}

function noActiveCode(): AppError {
  return new AppError("FAILED_PRECONDITION", "there is no live code for this contact (never sent, expired, burned or used): start again", {
    reason: "NO_ACTIVE_CODE",
  });
}

/** Store and limiter failures (Redis unreachable) are UNAVAILABLE; our own errors pass. */
async function failClosed<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("UNAVAILABLE", "verification is temporarily unavailable; retry with backoff", {
      reason: "VERIFICATION_UNAVAILABLE",
      cause: err,
    });
  }
}

export class VerificationService {
  constructor(
    private readonly customers: CustomerService,
    private readonly tenants: { profile(tenantId: string, em?: EntityManager): Promise<TenantProfile> },
    private readonly store: CodeStore,
    private readonly limits: VerificationLimits,
    private readonly notifier: Notifier,
    private readonly secret: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Runs in the caller's transaction (the request_id claim), so a replay never sends again. */
  async start(em: EntityManager, tenantId: string, customerId: string, channel: Channel): Promise<StartResult> {
    const customer = await this.customers.get(em, tenantId, customerId);
    const destination = this.destinationOf(customer, channel);
    const tenant = await this.tenants.profile(tenantId, em);
    const policy = effectivePolicy(tenant.verificationPolicy);
    const destinationHash = hashDestination(this.secret, { tenantId, channel, destination });
    await failClosed(() => this.limits.beforeSend(tenantId, destinationHash, policy.sendBudgetPerMinute));

    const now = this.now();
    const code = generateCode(policy.codeLength);
    const key: CodeKey = { tenantId, customerId, channel };
    const expireTime = new Date(now.getTime() + policy.codeTtlMs);
    await failClosed(() =>
      this.store.put(
        key,
        {
          hash: hashCode(this.secret, { tenantId, customerId, channel, destination }, code),
          destinationHash,
          nonce: randomBytes(12).toString("base64url"),
          expiresAt: expireTime.getTime(),
          maxAttempts: policy.maxAttempts,
        },
        policy.codeTtlMs,
      ),
    );
    try {
      await this.notifier.send({ tenantId, tenantName: tenant.displayName, customerId, channel, destination, code, expireTime, sendTime: now });
    } catch (err) {
      await this.store.discard(key).catch(() => undefined); // never leave an undelivered code usable
      await this.limits.refundSend(tenantId, destinationHash, policy.sendBudgetPerMinute).catch(() => undefined);
      throw new AppError("UNAVAILABLE", "the code could not be delivered; retry with backoff", { reason: "DELIVERY_FAILED", cause: err });
    }
    return {
      expireTime,
      resendTime: new Date(now.getTime() + RESEND_COOLDOWN_MS),
      destination: maskDestination(channel, destination),
      codeLength: policy.codeLength,
    };
  }

  /** Checks a code; on success marks the contact verified in its own transaction (via `commit`). */
  async verify(
    em: EntityManager,
    tenantId: string,
    customerId: string,
    channel: Channel,
    code: string,
    actor: Actor,
  ): Promise<Customer> {
    const customer = await this.customers.get(em, tenantId, customerId);
    if (customer.status === "closed") {
      throw new AppError("FAILED_PRECONDITION", `customer ${customerId} is closed`, { reason: "CUSTOMER_CLOSED" });
    }
    const key: CodeKey = { tenantId, customerId, channel };
    await failClosed(() => this.limits.beforeVerify(tenantId, customerId));
    const r = await failClosed(() => this.store.reserve(key));
    if (r.kind !== "reserved") throw noActiveCode();
    if (this.now().getTime() >= r.code.expiresAt) {
      await failClosed(() => this.store.discard(key));
      throw noActiveCode();
    }
    const destination = channel === "email" ? customer.email : customer.phoneNumber;
    if (destination === null || hashDestination(this.secret, { tenantId, channel, destination }) !== r.code.destinationHash) {
      await failClosed(() => this.store.discard(key));
      throw new AppError("FAILED_PRECONDITION", `the customer's ${channel} changed since the code was sent; start again`, {
        reason: "DESTINATION_CHANGED",
      });
    }
    if (!sameHash(hashCode(this.secret, { tenantId, customerId, channel, destination }, code), r.code.hash)) {
      await failClosed(async () => {
        await this.limits.recordFailure(tenantId, customerId);
        if (r.attemptsLeft === 0) await this.store.discard(key);
      });
      throw new AppError("INVALID_ARGUMENT", `wrong code; ${r.attemptsLeft} attempts left`, {
        reason: "CODE_MISMATCH",
        metadata: { attempts_left: String(r.attemptsLeft) },
        violations: [{ field: "code", ruleId: "code.match", message: "does not match the code that was sent" }],
      });
    }
    if (!(await failClosed(() => this.store.consume(key, r.code.nonce)))) throw noActiveCode();
    return this.customers.markVerified(em, customer, channel, destination, actor);
  }

  private destinationOf(c: Customer, channel: Channel): string {
    if (c.status === "closed") {
      throw new AppError("FAILED_PRECONDITION", `customer ${c.id} is closed`, { reason: "CUSTOMER_CLOSED" });
    }
    const verified = channel === "email" ? c.emailVerified : c.phoneVerified;
    if (verified) {
      throw new AppError("FAILED_PRECONDITION", `the ${channel === "email" ? "email" : "phone number"} is already verified`, {
        reason: "ALREADY_VERIFIED",
      });
    }
    if (channel === "email") return c.email;
    if (c.phoneNumber === null) {
      throw new AppError("FAILED_PRECONDITION", "the customer has no phone number: add one with UpdateCustomer first", {
        reason: "PHONE_NUMBER_MISSING",
      });
    }
    return c.phoneNumber;
  }
}
