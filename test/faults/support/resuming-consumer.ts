// A WatchCustomerEvents consumer that does what the contract asks of clients: when the stream
// ends (UNAVAILABLE on a shutdown or a lost database), reconnect with its last cursor. Bounded in
// reconnects; a short backoff between them (a client's retry delay, not a synchronisation).
import { watch, type Consumer, type StreamEvent } from "../../support/event-consumer.js";
import type { grpc, GrpcClient } from "../../support/grpc.js";

export interface ResumingConsumer {
  readonly events: StreamEvent[];
  /** The status code each stream ended with (before the test stopped it). */
  readonly ends: number[];
  stop(): Promise<void>;
}

export function resumingWatch(client: GrpcClient, md: grpc.Metadata, maxReconnects = 100, backoffMs = 100): ResumingConsumer {
  const events: StreamEvent[] = [];
  const ends: number[] = [];
  let stopped = false;
  let current: Consumer | undefined;
  const loop = (async () => {
    for (let i = 0; !stopped && i <= maxReconnects; i++) {
      current = watch(client, md, { afterCursor: events.at(-1)?.cursor ?? "", onEvent: (e) => events.push(e) });
      const end = await current.ended;
      if (stopped) break;
      ends.push(end.code);
      await new Promise((r) => setTimeout(r, backoffMs));
    }
  })();
  return {
    events,
    ends,
    async stop() {
      stopped = true;
      current?.cancel();
      await loop;
    },
  };
}
