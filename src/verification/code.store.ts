// Where live codes wait: one per customer and channel. Two implementations with one contract
// (test/unit/code-store.contract.ts runs against both): Redis (redis-code.store.ts) for
// replicas, and this in-memory twin for the embedded single-process mode.
//
// reserve() atomically counts an attempt and returns the stored hash for a constant-time
// comparison in the caller; consume() deletes the code only if it is still the one reserved
// (nonce), so of concurrent correct guesses exactly one wins.
import type { Channel } from "./policy.js";

export interface StoredCode {
  readonly hash: string;
  /** Keyed hash of the destination the code was sent to. */
  readonly destinationHash: string;
  /** Random id of this issue of the code (a new send gets a new one). */
  readonly nonce: string;
  readonly expiresAt: number;
  readonly maxAttempts: number;
}

export type Reservation =
  | { readonly kind: "none" }
  | { readonly kind: "burned" }
  | { readonly kind: "reserved"; readonly code: StoredCode; readonly attemptsLeft: number };

export interface CodeKey {
  readonly tenantId: string;
  readonly customerId: string;
  readonly channel: Channel;
}

export interface CodeStore {
  /** Stores a code, replacing any previous one for the key; it disappears after ttlMs. */
  put(key: CodeKey, code: StoredCode, ttlMs: number): Promise<void>;
  /** Counts one attempt. "burned" once more attempts than allowed were made. */
  reserve(key: CodeKey): Promise<Reservation>;
  /** Deletes the code if it is still the issue `nonce`; true for exactly one caller. */
  consume(key: CodeKey, nonce: string): Promise<boolean>;
  /** Deletes whatever code the key has. */
  discard(key: CodeKey): Promise<void>;
}

/** Redis Cluster-ready key: the tenant hash tag keeps one tenant's keys in one slot. */
export function codeKey(key: CodeKey): string {
  return `cms:{t:${key.tenantId}}:code:${key.customerId}:${key.channel}`;
}

interface Entry {
  code: StoredCode;
  attempts: number;
  deadline: number;
}

/** The embedded twin: same semantics, one process only. Expiry by wall clock, swept lazily. */
export class MemoryCodeStore implements CodeStore {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: () => number = Date.now) {}

  async put(key: CodeKey, code: StoredCode, ttlMs: number): Promise<void> {
    this.sweep();
    this.entries.set(codeKey(key), { code, attempts: 0, deadline: this.clock() + ttlMs });
  }

  async reserve(key: CodeKey): Promise<Reservation> {
    const k = codeKey(key);
    const e = this.live(k);
    if (e === undefined) return { kind: "none" };
    e.attempts += 1;
    // Over the limit: refused, but not deleted, so an in-limit reservation made just before can
    // still consume it (of 20 concurrent correct guesses exactly one wins).
    if (e.attempts > e.code.maxAttempts) return { kind: "burned" };
    return { kind: "reserved", code: e.code, attemptsLeft: e.code.maxAttempts - e.attempts };
  }

  async consume(key: CodeKey, nonce: string): Promise<boolean> {
    const k = codeKey(key);
    const e = this.live(k);
    if (e === undefined || e.code.nonce !== nonce) return false;
    this.entries.delete(k);
    return true;
  }

  async discard(key: CodeKey): Promise<void> {
    this.entries.delete(codeKey(key));
  }

  private live(k: string): Entry | undefined {
    const e = this.entries.get(k);
    if (e !== undefined && e.deadline <= this.clock()) {
      this.entries.delete(k);
      return undefined;
    }
    return e;
  }

  private sweep(): void {
    if (this.entries.size < 10_000) return;
    const now = this.clock();
    for (const [k, e] of this.entries) if (e.deadline <= now) this.entries.delete(k);
  }
}
