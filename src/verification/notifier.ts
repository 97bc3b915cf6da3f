// Delivery of codes: a port with three adapters chosen by CUSTOMERMS_NOTIFIER (and
// CUSTOMERMS_PHONE_NOTIFIER for SMS): log (development only), smtp (email), webhook (any
// channel: the tenant's or FinHub's messaging service). A failed delivery throws.
import type { Logger } from "../observability/logger.js";
import { maskDestination, type Channel } from "./policy.js";

export interface VerificationMessage {
  readonly tenantId: string;
  readonly tenantName: string;
  readonly customerId: string;
  readonly channel: Channel;
  readonly destination: string;
  readonly code: string;
  readonly expireTime: Date;
  /** The service's time of sending (expireTime - sendTime = the code's lifetime). */
  readonly sendTime: Date;
}

export interface Notifier {
  send(message: VerificationMessage): Promise<void>;
}

/** Development only (config.ts refuses it in production): writes the code to the log. */
export class LogNotifier implements Notifier {
  constructor(private readonly logger: Logger) {}

  async send(m: VerificationMessage): Promise<void> {
    this.logger.warn(
      { dev_only: true, tenant_id: m.tenantId, customer_id: m.customerId, channel: m.channel, to: maskDestination(m.channel, m.destination) },
      `DEVELOPMENT ONLY (CUSTOMERMS_NOTIFIER=log): verification code ${m.code}, valid until ${m.expireTime.toISOString()}`,
    );
  }
}

/** Routes each channel to its adapter. */
export class ChannelNotifier implements Notifier {
  constructor(private readonly byChannel: Readonly<Record<Channel, Notifier>>) {}

  send(m: VerificationMessage): Promise<void> {
    return this.byChannel[m.channel].send(m);
  }
}
