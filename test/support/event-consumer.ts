// A consumer of CustomerService.WatchCustomerEvents over the grpc-js client built from proto/:
// it records every event and heartbeat in arrival order, and lets a test wait (bounded, woken
// by each arriving message, never by sleeping) until what it received satisfies a condition.
import { EventEmitter } from "node:events";
import { grpc, type GrpcClient } from "./grpc.js";

/** One event as the stream delivered it (proto-loader with longs: String, enums: String). */
export interface StreamEvent {
  readonly cursor: string;
  readonly sequence: number;
  readonly type: string;
  readonly customerId: string;
  readonly requestId: string;
  /** The message as received. */
  readonly raw: any;
}

export interface StreamHeartbeat {
  readonly cursor: string;
  /** heartbeat_time in ms since the epoch. */
  readonly heartbeatTime: number;
  /** When the consumer received it (Date.now()). */
  readonly receivedAt: number;
  /** How many events had been received before it. */
  readonly afterEvents: number;
}

/** How the stream ended: its status, and the error (with trailers) when it was not OK. */
export interface StreamEnd {
  readonly code: number;
  readonly details: string;
  readonly error?: grpc.ServiceError;
}

export interface Consumer {
  readonly events: StreamEvent[];
  readonly heartbeats: StreamHeartbeat[];
  /** Set once the stream has ended. */
  end: StreamEnd | undefined;
  readonly ended: Promise<StreamEnd>;
  /** The cursor of the last event received ("" before the first). */
  lastEventCursor(): string;
  /** Resolves once `predicate` holds (checked now and on every message); rejects after timeoutMs,
   * or as soon as the stream ends without it holding. */
  until(predicate: (c: Consumer) => boolean, timeoutMs: number, what: string): Promise<void>;
  cancel(): void;
}

export interface WatchOptions {
  readonly afterCursor?: string;
  readonly types?: readonly string[];
  /** Called synchronously for each event, after it is recorded (e.g. to cancel mid-way). */
  readonly onEvent?: (e: StreamEvent, c: Consumer) => void;
}

export function watch(client: GrpcClient, md: grpc.Metadata, options: WatchOptions = {}): Consumer {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const call = client.watchCustomerEvents({ afterCursor: options.afterCursor ?? "", types: options.types ?? [] }, md) as grpc.ClientReadableStream<any>;
  let resolveEnd!: (e: StreamEnd) => void;
  const ended = new Promise<StreamEnd>((resolve) => (resolveEnd = resolve));
  let error: grpc.ServiceError | undefined;
  const consumer: Consumer = {
    events: [],
    heartbeats: [],
    end: undefined,
    ended,
    lastEventCursor: () => consumer.events.at(-1)?.cursor ?? "",
    until(predicate, timeoutMs, what) {
      if (predicate(consumer)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (predicate(consumer)) return done();
          if (consumer.end !== undefined) {
            done(new Error(`${what}: the stream ended first (code ${consumer.end.code}: ${consumer.end.details}); ` + summary()));
          }
        };
        const timer = setTimeout(() => done(new Error(`${what}: not within ${timeoutMs} ms; ` + summary())), timeoutMs);
        const done = (err?: Error) => {
          clearTimeout(timer);
          changes.off("change", check);
          if (err) reject(err);
          else resolve();
        };
        changes.on("change", check);
      });
    },
    cancel: () => call.cancel(),
  };
  const summary = () => `${consumer.events.length} events (last sequence ${consumer.events.at(-1)?.sequence ?? "-"}), ${consumer.heartbeats.length} heartbeats`;

  call.on("data", (m: any) => {
    if (m.message === "event") {
      const e = m.event;
      const ev: StreamEvent = {
        cursor: e.cursor,
        sequence: Number(e.sequence),
        type: e.type,
        customerId: e.customerId,
        requestId: e.requestId,
        raw: e,
      };
      consumer.events.push(ev);
      options.onEvent?.(ev, consumer);
    } else if (m.message === "heartbeat") {
      const t = m.heartbeat.heartbeatTime;
      consumer.heartbeats.push({
        cursor: m.heartbeat.cursor,
        heartbeatTime: t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : NaN,
        receivedAt: Date.now(),
        afterEvents: consumer.events.length,
      });
    }
    changes.emit("change");
  });
  call.on("error", (err: grpc.ServiceError) => {
    error = err;
  });
  // The end is known once the status arrived ("error", when not OK, comes just before it) AND
  // every message pushed before it has been delivered (the readable side's "end").
  let status: grpc.StatusObject | undefined;
  let drained = false;
  const settle = () => {
    if (status === undefined || !drained || consumer.end !== undefined) return;
    consumer.end = { code: status.code, details: status.details, ...(status.code !== grpc.status.OK && error ? { error } : {}) };
    resolveEnd(consumer.end);
    changes.emit("change");
  };
  call.on("status", (s: grpc.StatusObject) => {
    status = s;
    settle();
  });
  for (const e of ["end", "close"]) {
    call.on(e, () => {
      drained = true;
      settle();
    });
  }
  return consumer;
}
