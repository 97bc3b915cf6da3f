// Builds the verification stack from the configuration: Redis-backed store and limits when
// REDIS_URL is set, the in-memory twins otherwise; notifiers per channel.
import type { Redis } from "ioredis";
import type { Config } from "../config.js";
import type { CustomerService } from "../customers/customer.service.js";
import type { Logger } from "../observability/logger.js";
import type { TenantService } from "../tenants/tenant.service.js";
import { MemoryCodeStore } from "./code.store.js";
import { ChannelNotifier, LogNotifier, type Notifier } from "./notifier.js";
import { memoryLimiters, redisLimiters, VerificationLimits } from "./rate-limits.js";
import { RedisCodeStore } from "./redis-code.store.js";
import { SmtpNotifier } from "./smtp.notifier.js";
import { VerificationService } from "./verification.service.js";
import { WebhookNotifier } from "./webhook.notifier.js";

export function buildNotifier(config: Config, logger: Logger): Notifier {
  const n = config.notifier;
  const log = new LogNotifier(logger);
  const webhook = n.webhookUrl && n.webhookSecret ? new WebhookNotifier(n.webhookUrl, n.webhookSecret) : undefined;
  const pick = (kind: "log" | "smtp" | "webhook"): Notifier =>
    kind === "log" ? log : kind === "smtp" ? new SmtpNotifier(n.smtpUrl!, n.smtpFrom) : webhook!;
  return new ChannelNotifier({ email: pick(n.email), phone: pick(n.phone) });
}

export function buildVerification(
  config: Config,
  logger: Logger,
  redis: Redis | undefined,
  customers: CustomerService,
  tenants: TenantService,
  secret: Buffer,
  clock: () => Date = () => new Date(),
): VerificationService {
  const store = redis ? new RedisCodeStore(redis) : new MemoryCodeStore(() => clock().getTime());
  const limits = new VerificationLimits(redis ? redisLimiters(redis) : memoryLimiters());
  return new VerificationService(customers, tenants, store, limits, buildNotifier(config, logger), secret, clock);
}
