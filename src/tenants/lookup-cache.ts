// A short-lived cache of database lookups that every call makes (API keys, tenant settings), so
// that a busy process neither asks the database on every call nor all at once:
// - one lookup per key at a time: calls that miss together wait for the same lookup (before,
//   every call in flight when an entry expired ran its own: 32 transactions at once, every TTL,
//   at 32 calls in flight — the slowest calls of the bench);
// - refreshed ahead: a call that finds an entry past `refreshAfterMs` (but before its expiry)
//   gets it at once and starts one lookup in the background, so under steady traffic no call
//   waits for the database at all;
// - never served past its expiry: what the lookup says (a revoked key, changed settings) shows
//   within the TTL, as before. A failed background lookup keeps the entry until then.
// (lru-cache's fetch() dedupes too, but serves stale entries past the TTL or makes callers wait at
// expiry; neither is what a revocation TTL wants.)

/** What a lookup found: `result` for the callers, cached until `cacheUntil` (epoch ms) when set. */
export interface Lookup<T> {
  readonly result: T;
  /** Omitted: not cached (not found, revoked, expired); a cached entry for the key is dropped. */
  readonly cacheUntil?: number;
}

export interface LookupCacheOptions {
  /** Entries are cached at most this long (a lookup can shorten it with cacheUntil). */
  readonly ttlMs: number;
  /** From this age on, a hit also starts a background lookup. */
  readonly refreshAfterMs: number;
  /** More entries than this and the cache starts over (bounds memory against random keys). */
  readonly max: number;
  /** Where a failed background lookup is reported. */
  readonly onRefreshError?: (err: Error) => void;
  readonly now?: () => number;
}

interface Entry<T> {
  readonly result: T;
  readonly refreshAt: number;
  readonly expires: number;
}

export class LookupCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly inflight = new Map<string, Promise<T>>();
  private readonly now: () => number;

  constructor(private readonly options: LookupCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The cached result for `key`, else what `load` finds (one `load` at a time per key: callers
   * that miss together share it). `load` also runs the background refreshes, so it must not
   * depend on the caller (its transaction). `ownLoad`, when given, serves this caller's miss
   * instead of sharing one: for a caller inside a database transaction, which must read on that
   * transaction's connection (waiting on a lookup that needs a second pooled connection could
   * exhaust the pool).
   */
  get(key: string, load: () => Promise<Lookup<T>>, ownLoad?: () => Promise<Lookup<T>>): Promise<T> {
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expires > now) {
      if (now >= entry.refreshAt && !this.inflight.has(key)) {
        this.lookup(key, load).catch((err: Error) => this.options.onRefreshError?.(err));
      }
      return Promise.resolve(entry.result);
    }
    if (ownLoad !== undefined) return this.settle(key, ownLoad());
    return this.inflight.get(key) ?? this.lookup(key, load);
  }

  /** Forgets `key`, and what a lookup of it already running finds (it read before the change
   * that calls this: a revoked key must not come back from a refresh that started earlier). */
  delete(key: string): void {
    this.entries.delete(key);
    this.inflight.delete(key);
  }

  /** Forgets every entry whose result matches. */
  deleteWhere(match: (result: T) => boolean): void {
    for (const [key, entry] of this.entries) if (match(entry.result)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** A shared lookup: stored only while it is still the current one for `key` (see delete). */
  private lookup(key: string, load: () => Promise<Lookup<T>>): Promise<T> {
    const running: Promise<T> = load().then(
      (found) => {
        if (this.inflight.get(key) === running) {
          this.inflight.delete(key);
          this.store(key, found);
        }
        return found.result;
      },
      (err: unknown) => {
        if (this.inflight.get(key) === running) this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, running);
    return running;
  }

  private async settle(key: string, loading: Promise<Lookup<T>>): Promise<T> {
    const found = await loading;
    this.store(key, found);
    return found.result;
  }

  private store(key: string, { result, cacheUntil }: Lookup<T>): void {
    const now = this.now();
    if (cacheUntil === undefined) {
      this.entries.delete(key);
      return;
    }
    if (this.entries.size >= this.options.max && !this.entries.has(key)) this.entries.clear();
    this.entries.set(key, { result, refreshAt: now + this.options.refreshAfterMs, expires: Math.min(now + this.options.ttlMs, cacheUntil) });
  }
}
