// db/envelope.ts sealing: every seal gets its own IV (AES-GCM must never reuse one under a key),
// also across the refills of the pooled CSPRNG output the IVs are cut from, and opens back;
// values opened once are remembered only as what opening them gives (OpenedValues).
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cipherOf, createKeyring, DecryptionError, OpenedValues, wrapDataKey } from "../../src/db/envelope.js";

describe("sealing", () => {
  it("gives every sealed value a distinct IV, across IV pool refills, and each opens to its plaintext", () => {
    const ring = createKeyring(randomBytes(32));
    const tenantId = "11111111-1111-4111-8111-111111111111";
    const cipher = cipherOf(ring, { tenantId, keyId: "d0000test", wrappedKey: wrapDataKey(ring, tenantId, randomBytes(32)) });
    const ivs = new Set<string>();
    const n = 1_500; // the pool holds 341 IVs: several refills
    for (let i = 0; i < n; i++) {
      const plaintext = `{"year":1980,"month":12,"day":${i}}`;
      const sealed = i % 2 === 0 ? cipher.seal(plaintext, `t/c${i}/f`) : cipher.sealBytes(Buffer.from(plaintext), `t/c${i}/f`).toString("ascii");
      const [version, kid, iv] = sealed.split(".");
      expect([version, kid]).toEqual(["v2", "d0000test"]);
      expect(Buffer.from(iv!, "base64url")).toHaveLength(12);
      ivs.add(iv!);
      expect(cipher.open(sealed, `t/c${i}/f`)).toBe(plaintext);
    }
    expect(ivs.size).toBe(n);
  });
});

describe("opened values (OpenedValues)", () => {
  const ring = createKeyring(randomBytes(32));
  const tenantId = "22222222-2222-4222-8222-222222222222";
  const cipher = cipherOf(ring, { tenantId, keyId: "d0000memo", wrappedKey: wrapDataKey(ring, tenantId, randomBytes(32)) });

  it("a remembered value still fails to open at another row or field, altered, or with another tenant's cipher", () => {
    const sealed = cipher.seal("1980-12-01", `${tenantId}/c1/individual.date_of_birth`);
    expect(cipher.open(sealed, `${tenantId}/c1/individual.date_of_birth`)).toBe("1980-12-01");
    expect(cipher.open(sealed, `${tenantId}/c1/individual.date_of_birth`)).toBe("1980-12-01"); // remembered
    expect(() => cipher.open(sealed, `${tenantId}/c2/individual.date_of_birth`)).toThrow(DecryptionError);
    const other = cipherOf(ring, { tenantId, keyId: "d0000othr", wrappedKey: wrapDataKey(ring, tenantId, randomBytes(32)) });
    expect(() => other.open(sealed, `${tenantId}/c1/individual.date_of_birth`)).toThrow(DecryptionError);
    const [v, kid, iv, ct, tag] = sealed.split(".");
    const altered = [v, kid, iv, Buffer.from(Buffer.from(ct!, "base64url").map((b, i) => (i === 0 ? b ^ 1 : b))).toString("base64url"), tag].join(".");
    expect(() => cipher.open(altered, `${tenantId}/c1/individual.date_of_birth`)).toThrow(DecryptionError);
  });

  it("opens each value once while it is remembered; again after its time, or once evicted; never holds more than its bound", () => {
    let now = 0;
    const memo = new OpenedValues(3, 1_000, () => now);
    let opened = 0;
    const open = (sealed: string) => memo.open(1, sealed, "aad", () => `plain:${sealed}:${++opened}`);
    expect(open("a")).toBe("plain:a:1");
    expect(open("a")).toBe("plain:a:1");
    expect(opened).toBe(1);
    now = 1_000; // its time is up
    expect(open("a")).toBe("plain:a:2");
    for (const x of ["b", "c", "d"]) open(x); // "a" is the oldest: evicted by "d"
    expect(memo.size).toBe(3);
    expect(open("d")).toBe("plain:d:5");
    expect(open("a")).toBe("plain:a:6");
    expect(memo.size).toBe(3);
    expect(memo.open(1, "d", "other aad", () => "other")).toBe("other"); // the associated data is part of the key
    expect(memo.open(2, "d", "aad", () => "another cipher's")).toBe("another cipher's"); // and the cipher that opens
  });

  it("sweep() drops the entries whose time is up, and only those", () => {
    let now = 0;
    const memo = new OpenedValues(10, 1_000, () => now);
    memo.open(1, "old", "aad", () => "old plaintext");
    now = 600;
    memo.open(1, "new", "aad", () => "new plaintext");
    now = 1_000; // "old" is up, "new" has 600 ms left
    memo.sweep();
    expect(memo.size).toBe(1);
    expect(memo.open(1, "new", "aad", () => "opened again")).toBe("new plaintext");
    now = 1_600;
    memo.sweep();
    expect(memo.size).toBe(0);
  });

  describe("on its timer", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("forgets an expired value without any further use (a quiet process), and the timer keeps no process alive", () => {
      vi.useFakeTimers();
      const memo = new OpenedValues(10, 1_000, Date.now, 250);
      memo.open(1, "sealed", "aad", () => "plaintext");
      vi.advanceTimersByTime(750); // three sweeps, the value not yet up
      expect(memo.size).toBe(1);
      vi.advanceTimersByTime(250); // up at 1 000 ms: the sweep then drops it
      expect(memo.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0); // nothing left to sweep: the timer stops
      memo.open(1, "sealed", "aad", () => "plaintext");
      expect(vi.getTimerCount()).toBe(1); // and starts again with the next value
    });
  });

  describe("sealing a value that did not change", () => {
    const dob = '{"year":1980,"month":12,"day":10}';
    const aad = `${tenantId}/c9/individual.date_of_birth`;

    it("gives back the sealed value it was opened from, at the same associated data and cipher only", () => {
      const stored = cipherOf(ring, { tenantId, keyId: "d0000memo", wrappedKey: wrapDataKey(ring, tenantId, randomBytes(32)) });
      const first = stored.seal(dob, aad);
      const reader = cipherOf(ring, { tenantId, keyId: "d0000memo", wrappedKey: wrapDataKey(ring, tenantId, randomBytes(32)) });
      expect(() => reader.open(first, aad)).toThrow(DecryptionError); // another key under the same id: nothing reused
      expect(stored.open(first, aad)).toBe(dob);
      expect(stored.seal(dob, aad)).toBe(first); // unchanged: the stored ciphertext again
      const changed = stored.seal('{"year":1980,"month":12,"day":11}', aad);
      expect(changed).not.toBe(first);
      expect(changed.split(".")[2]).not.toBe(first.split(".")[2]); // a new value, a new IV
      const elsewhere = stored.seal(dob, `${tenantId}/c8/individual.date_of_birth`);
      expect(elsewhere).not.toBe(first);
      expect(() => stored.open(elsewhere, aad)).toThrow(DecryptionError);
      expect(stored.open(elsewhere, `${tenantId}/c8/individual.date_of_birth`)).toBe(dob);
    });

    it("a value sealed before envelope encryption (v1, under the master key) is sealed anew, in the current format", () => {
      const master = randomBytes(32);
      const legacyRing = createKeyring(randomBytes(32), [master]);
      const cipher = cipherOf(legacyRing, { tenantId, keyId: "d0000lgcy", wrappedKey: wrapDataKey(legacyRing, tenantId, randomBytes(32)) });
      const iv = randomBytes(12);
      const gcm = createCipheriv("aes-256-gcm", master, iv).setAAD(Buffer.from(aad));
      const ct = Buffer.concat([gcm.update(dob, "utf8"), gcm.final()]);
      const legacy = ["v1", createHash("sha256").update(master).digest("hex").slice(0, 8), iv.toString("base64url"), ct.toString("base64url"), gcm.getAuthTag().toString("base64url")].join(".");
      expect(cipher.open(legacy, aad)).toBe(dob);
      const resealed = cipher.seal(dob, aad);
      expect(resealed.startsWith("v2.d0000lgcy.")).toBe(true);
      expect(cipher.open(resealed, aad)).toBe(dob);
    });

    it("reuses a sealed value only while it is remembered", () => {
      let now = 0;
      const memo = new OpenedValues(10, 1_000, () => now);
      let sealed = 0;
      const seal = () => memo.seal(1, "plain", "aad", () => `sealed:${++sealed}`);
      expect(seal()).toBe("sealed:1");
      expect(seal()).toBe("sealed:1");
      expect(memo.open(1, "sealed:1", "aad", () => "opened")).toBe("plain"); // what it sealed, it knows
      now = 1_000;
      expect(seal()).toBe("sealed:2");
      expect(memo.seal(2, "plain", "aad", () => "another cipher's")).toBe("another cipher's");
      memo.open(1, "legacy", "aad2", () => "plain"); // not reusable
      expect(memo.seal(1, "plain", "aad2", () => "fresh")).toBe("fresh");
    });
  });

  it("remembers nothing that failed to open", () => {
    const memo = new OpenedValues(10, 1_000);
    expect(() => memo.open(1, "x", "aad", () => { throw new DecryptionError("no"); })).toThrow(DecryptionError);
    expect(memo.size).toBe(0);
  });
});
