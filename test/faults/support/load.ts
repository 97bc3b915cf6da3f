// A bounded load loop: `inFlight` workers, each starting its next call as soon as its last one
// returned, until `maxCalls` were started, `maxMs` passed or `stop()` was called.
export interface LoadOptions {
  readonly inFlight: number;
  readonly maxCalls: number;
  readonly maxMs: number;
}

export interface Load {
  /** Resolves once every worker has finished its last call. */
  readonly done: Promise<void>;
  /** Calls started so far. */
  started(): number;
  stop(): void;
}

export function startLoad(options: LoadOptions, call: (i: number) => Promise<void>): Load {
  let next = 0;
  let stopped = false;
  const deadline = performance.now() + options.maxMs;
  const worker = async () => {
    while (!stopped && next < options.maxCalls && performance.now() < deadline) {
      const i = next++;
      await call(i);
    }
  };
  const done = Promise.all(Array.from({ length: options.inFlight }, worker)).then(() => undefined);
  return {
    done,
    started: () => next,
    stop: () => {
      stopped = true;
    },
  };
}

/** p-th percentile (0..100) of the values (nearest rank); 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
