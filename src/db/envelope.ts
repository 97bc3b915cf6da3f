// Envelope encryption of personal data (docs/compliance.md, "Encryption at rest").
//
// - Each tenant has one random 256-bit data key (DEK) in tenant_data_keys, stored WRAPPED by the
//   master key (AES-256-GCM, associated data naming the tenant): "w1.<master key id>.<iv>.<ct>.<tag>".
//   The master key (CUSTOMERMS_MASTER_KEY) never touches the data itself, so rotating it rewraps
//   one small row per tenant (`npm run rotate-master-key`); earlier master keys stay readable
//   while listed in CUSTOMERMS_MASTER_KEY_PREVIOUS.
// - Values are sealed with the tenant's DEK: AES-256-GCM, a fresh 96-bit IV for every
//   encryption, and associated data = tenant/customer/field, so a ciphertext moved to another
//   row or field fails to open (an error, never someone else's data). Format
//   "v2.<data key id>.<iv>.<ct>.<tag>". A value written again unchanged keeps its ciphertext
//   (OpenedValues.seal).
// - A keyed blind index (HMAC-SHA256 under a key derived from the DEK) keeps exact-match lookups
//   possible without storing or comparing plaintext.
// Values sealed before envelope encryption ("v1.", directly under a master key) still open.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { TenantDataKeyEntity, type TenantDataKeyRow } from "../tenants/tenant.entity.js";

export class DecryptionError extends Error {
  override name = "DecryptionError";
}

export function parseMasterKey(base64: string): Buffer {
  const key = Buffer.from(base64, "base64");
  if (key.length !== 32) throw new Error("a master key must be 32 bytes, base64-encoded");
  return key;
}

const keyIdOf = (key: Buffer) => createHash("sha256").update(key).digest("hex").slice(0, 8);

/** The current master key and the earlier ones still accepted for unwrapping. */
export interface MasterKeyring {
  readonly currentId: string;
  readonly current: Buffer;
  get(id: string): Buffer | undefined;
}

export function createKeyring(current: Buffer, previous: readonly Buffer[] = []): MasterKeyring {
  const byId = new Map<string, Buffer>();
  for (const k of [...previous, current]) byId.set(keyIdOf(k), k);
  return { currentId: keyIdOf(current), current, get: (id) => byId.get(id) };
}

/** Random 96-bit IVs, cut from 4 KB of CSPRNG output at a time: randomBytes(12) costs 2-3 µs a
 * call in a micro-benchmark (0.08 µs pooled) and showed at ≈ 40 µs per UpdateCustomer in its
 * profile (two or three seals per write). Every IV is fresh random bytes, never handed out twice. */
const IV_BYTES = 12;
let ivPool = Buffer.alloc(0);
let ivNext = 0;
function freshIv(): Buffer {
  if (ivNext + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(4_092);
    ivNext = 0;
  }
  const iv = ivPool.subarray(ivNext, ivNext + IV_BYTES);
  ivNext += IV_BYTES;
  return iv;
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: string, prefix: string): string {
  const iv = freshIv();
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [prefix, iv.toString("base64url"), ct.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
}

function gcmOpen(key: Buffer, iv: string, ct: string, tag: string, aad: string): Buffer {
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]);
  } catch {
    // Wrong key, wrong row/field (associated data) or tampered: never say which, never the value.
    throw new DecryptionError("a sealed value failed authentication: it does not belong here or was altered");
  }
}

const dekAad = (tenantId: string) => `customerms/data-key/${tenantId}`;

export function wrapDataKey(ring: MasterKeyring, tenantId: string, dek: Buffer): string {
  return gcmSeal(ring.current, dek, dekAad(tenantId), `w1.${ring.currentId}`);
}

export function unwrapDataKey(ring: MasterKeyring, tenantId: string, wrapped: string): Buffer {
  const [version, kid, iv, ct, tag] = wrapped.split(".");
  const key = kid === undefined ? undefined : ring.get(kid);
  if (version !== "w1" || key === undefined || iv === undefined || ct === undefined || tag === undefined) {
    throw new DecryptionError(`the data key of tenant ${tenantId} is wrapped by an unknown master key (${kid ?? "?"}): is CUSTOMERMS_MASTER_KEY_PREVIOUS missing it?`);
  }
  return gcmOpen(key, iv, ct, tag, dekAad(tenantId));
}

/**
 * Values already opened, by (associated data, sealed value). Opening costs ≈ 6 µs
 * (createDecipheriv, base64, the tag check: a micro-benchmark), and reads open the same values
 * again and again: the 50 dates of birth of a ListCustomers page were about a seventh of its CPU.
 * Sound because, for the cipher that opened it, the pair determines the plaintext: the sealed
 * value names its key (which never changes under that id) and carries its IV and tag, the
 * associated data its tenant, row and field. Only values that authenticated (or that the cipher
 * sealed itself) are kept, per cipher, so a value moved, altered or opened with another tenant's
 * cipher still fails. Bounded in size (the oldest entry goes first, `max` each way: opened and
 * sealed) and in time: an entry is used for at most `ttlMs`, and
 * `sweep()` drops the expired ones (every `sweepMs`, on a timer that does not keep the process
 * alive), so the plaintext of an erased customer leaves every process's memory within
 * `ttlMs + sweepMs` (docs/security.md). Without the sweep, an expired entry stayed until 4 096
 * newer ones pushed it out, or for good in a quiet process.
 */
export class OpenedValues {
  private readonly values = new Map<string, { readonly plaintext: string; readonly until: number }>();
  /** The other way round, for `seal`: the sealed value a plaintext was opened from (or sealed to)
   * at an associated data, by cipher. Same bounds. */
  private readonly sealedValues = new Map<string, { readonly sealed: string; readonly until: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly sweepMs?: number,
  ) {}

  /** Entries held, both ways. */
  get size(): number {
    return this.values.size + this.sealedValues.size;
  }

  /** Drops every entry whose time is up. */
  sweep(): void {
    const now = this.now();
    for (const map of [this.values, this.sealedValues]) for (const [key, entry] of map) if (entry.until <= now) map.delete(key);
    if (this.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** `opener` names the cipher that opens (tenantCipher): another tenant's cipher must fail to
   * open a value even when this one opened it. `reusable`: `seal` may give this sealed value
   * back for the same plaintext at the same associated data (a value in the cipher's current
   * format, not a legacy one that a write should seal anew). */
  open(opener: number, sealed: string, aad: string, open: () => string, reusable = false): string {
    const key = `${opener}\u0000${aad}\u0000${sealed}`;
    const now = this.now();
    const known = this.values.get(key);
    if (known !== undefined && known.until > now) return known.plaintext;
    const plaintext = open();
    this.keep(this.values, key, { plaintext, until: now + this.ttlMs });
    if (reusable) this.keep(this.sealedValues, `${opener}\u0000${aad}\u0000${plaintext}`, { sealed, until: now + this.ttlMs });
    return plaintext;
  }

  /**
   * The sealed value this cipher last opened or sealed for `plaintext` at `aad`, if remembered;
   * else `seal()`'s. A field whose value did not change keeps its stored ciphertext, as an
   * identifier sent again already did (customer.service.ts): one AES-GCM encryption less per
   * unchanged date of birth on every UpdateCustomer, and the next read opens a value it knows.
   * A sealed value opens only at its own associated data (tenant, customer, field), so it is
   * never given to another row or field; that an unchanged field kept its ciphertext tells a
   * reader of the table nothing the customer's events do not (their changed_fields).
   */
  seal(opener: number, plaintext: string, aad: string, seal: () => string): string {
    const key = `${opener}\u0000${aad}\u0000${plaintext}`;
    const now = this.now();
    const known = this.sealedValues.get(key);
    if (known !== undefined && known.until > now) return known.sealed;
    const sealed = seal();
    this.keep(this.sealedValues, key, { sealed, until: now + this.ttlMs });
    this.keep(this.values, `${opener}\u0000${aad}\u0000${sealed}`, { plaintext, until: now + this.ttlMs });
    return sealed;
  }

  private keep<V>(map: Map<string, V>, key: string, entry: V): void {
    map.delete(key);
    if (map.size >= this.max) map.delete(map.keys().next().value!);
    map.set(key, entry);
    if (this.sweepMs !== undefined && this.sweeper === undefined) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
      this.sweeper.unref();
    }
  }
}

/** 4 096 entries each way (80 pages of 50, ≈ 2 MB each), used for 5 minutes at most, gone within 6. */
export const openedValues = new OpenedValues(4_096, 5 * 60_000, Date.now, 60_000);

/** Seals and opens one tenant's values. `aad` names where the value lives: tenant/customer/field. */
export interface TenantCipher {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
  sealBytes(plaintext: Uint8Array, aad: string): Buffer;
  openBytes(sealed: Uint8Array, aad: string): Buffer;
  /** Keyed blind index of a normalised value: equal inputs give equal outputs, nothing else. */
  blindIndex(value: string): string;
}

/** The cipher of a stored data key row (unwrapped with the keyring). */
export function cipherOf(ring: MasterKeyring, row: Pick<TenantDataKeyRow, "tenantId" | "keyId" | "wrappedKey">): TenantCipher {
  return tenantCipher(ring, row.keyId, unwrapDataKey(ring, row.tenantId, row.wrappedKey));
}

let ciphers = 0;

function tenantCipher(ring: MasterKeyring, dekId: string, dek: Buffer): TenantCipher {
  const opener = ++ciphers;
  const current = `v2.${dekId}`;
  const currentPrefix = `${current}.`;
  const indexKey = Buffer.from(hkdfSync("sha256", dek, Buffer.alloc(0), "customerms/blind-index/v1", 32));
  const open = (sealed: string, aad: string): Buffer => {
    const [version, kid, iv, ct, tag] = sealed.split(".");
    if (iv === undefined || ct === undefined || tag === undefined) throw new DecryptionError("not a sealed value");
    if (version === "v2" && kid === dekId) return gcmOpen(dek, iv, ct, tag, aad);
    const legacy = version === "v1" && kid !== undefined ? ring.get(kid) : undefined;
    if (legacy !== undefined) return gcmOpen(legacy, iv, ct, tag, aad);
    throw new DecryptionError(`sealed with an unknown key (${version}.${kid})`);
  };
  return {
    seal: (plaintext, aad) => openedValues.seal(opener, plaintext, aad, () => gcmSeal(dek, Buffer.from(plaintext, "utf8"), aad, current)),
    open: (sealed, aad) => openedValues.open(opener, sealed, aad, () => open(sealed, aad).toString("utf8"), sealed.startsWith(currentPrefix)),
    sealBytes: (plaintext, aad) => Buffer.from(gcmSeal(dek, Buffer.from(plaintext), aad, current), "ascii"),
    openBytes: (sealed, aad) => open(Buffer.from(sealed).toString("ascii"), aad),
    blindIndex: (value) => createHmac("sha256", indexKey).update(value).digest("base64url"),
  };
}

const CACHE_MAX = 10_000;

/**
 * The tenants' data keys: read (and on first use created) inside the caller's tenant transaction,
 * then kept unwrapped in memory. A DEK never changes (a master key rotation only rewraps it), so
 * the cache needs no expiry.
 */
export class DataKeys {
  private readonly cache = new Map<string, TenantCipher>();

  constructor(
    private readonly ring: MasterKeyring,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The tenant's cipher if this process already holds its key (no database access). */
  cached(tenantId: string): TenantCipher | undefined {
    return this.cache.get(tenantId);
  }

  async forTenant(em: EntityManager, tenantId: string): Promise<TenantCipher> {
    const cached = this.cache.get(tenantId);
    if (cached !== undefined) return cached;
    let row = await em.findOne(TenantDataKeyEntity, { tenantId }, { disableIdentityMap: true });
    let committed = row !== null;
    if (row === null) {
      const dek = randomBytes(32);
      const now = this.now();
      const fresh: TenantDataKeyRow = { tenantId, keyId: `d${randomBytes(4).toString("hex")}`, wrappedKey: wrapDataKey(this.ring, tenantId, dek), createTime: now, updateTime: now };
      // A concurrent first use may win the insert: then read the winner's key.
      await em.execute(
        `insert into tenant_data_keys (tenant_id, key_id, wrapped_key, create_time, update_time) values (?, ?, ?, ?, ?) on conflict (tenant_id) do nothing`,
        [fresh.tenantId, fresh.keyId, fresh.wrappedKey, fresh.createTime, fresh.updateTime],
        "run",
      );
      row = await em.findOneOrFail(TenantDataKeyEntity, { tenantId }, { disableIdentityMap: true });
      committed = row.keyId !== fresh.keyId; // another transaction's key, already committed
    }
    const cipher = cipherOf(this.ring, row);
    // A key inserted by THIS transaction is not cached: if the transaction rolls back, a cached
    // copy would seal later values with a key that was never stored. The next read caches it.
    if (committed) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(tenantId, cipher);
    }
    return cipher;
  }
}

/** Rewraps every tenant's data key under the current master key; returns how many changed. */
export async function rewrapDataKeys(em: EntityManager, ring: MasterKeyring, now: Date): Promise<number> {
  const rows = await em.find(TenantDataKeyEntity, {}, { disableIdentityMap: true });
  let changed = 0;
  for (const row of rows) {
    if (row.wrappedKey.startsWith(`w1.${ring.currentId}.`)) continue;
    const dek = unwrapDataKey(ring, row.tenantId, row.wrappedKey);
    await em.nativeUpdate(TenantDataKeyEntity, { tenantId: row.tenantId }, { wrappedKey: wrapDataKey(ring, row.tenantId, dek), updateTime: now });
    changed += 1;
  }
  return changed;
}
