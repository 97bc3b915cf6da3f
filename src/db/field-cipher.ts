// Field-level encryption of personal data at rest (government identifiers): AES-256-GCM with a
// fresh 96-bit IV per value and associated data naming the row and field (tenant/customer/field),
// so a ciphertext copied to another row or field fails to open. Format (ASCII, storable in
// jsonb): "v1.<key id>.<iv>.<ciphertext>.<tag>", base64url parts. The key id (first 8 hex of
// SHA-256 of the key) lets a later key rotation tell which key sealed a value.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

export interface FieldCipher {
  seal(plaintext: string, associatedData: string): string;
  open(sealed: string, associatedData: string): string;
}

export function parseMasterKey(base64: string): Buffer {
  const key = Buffer.from(base64, "base64");
  if (key.length !== 32) throw new Error("the master key must be 32 bytes, base64-encoded");
  return key;
}

export function createFieldCipher(masterKey: Buffer): FieldCipher {
  if (masterKey.length !== 32) throw new Error("AES-256-GCM needs a 32-byte key");
  const keyId = createHash("sha256").update(masterKey).digest("hex").slice(0, 8);
  return {
    seal(plaintext, associatedData) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", masterKey, iv);
      cipher.setAAD(Buffer.from(associatedData));
      const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return ["v1", keyId, iv.toString("base64url"), ct.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
    },
    open(sealed, associatedData) {
      const [version, kid, iv, ct, tag] = sealed.split(".");
      if (version !== "v1" || kid !== keyId || iv === undefined || ct === undefined || tag === undefined) {
        throw new Error("sealed value has an unknown format or key");
      }
      const decipher = createDecipheriv("aes-256-gcm", masterKey, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(associatedData));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]).toString("utf8");
    },
  };
}
