// db/envelope.ts sealing: every seal gets its own IV (AES-GCM must never reuse one under a key),
// also across the refills of the pooled CSPRNG output the IVs are cut from, and opens back.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cipherOf, createKeyring, wrapDataKey } from "../../src/db/envelope.js";

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
