// API key secrets: 32 random bytes, base64url, behind a recognisable "cms_" prefix (so secret
// scanners and people can tell what leaked). Only the SHA-256 hash is stored; a lookup by hash is
// safe to do through an index because the secret has 256 bits of entropy.
import { createHash, randomBytes } from "node:crypto";

export const API_KEY_PREFIX = "cms_";
const DISPLAY_PREFIX_LENGTH = 12;

export interface NewApiKeySecret {
  readonly secret: string;
  readonly prefix: string;
  readonly hash: string;
}

export function hashApiKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function generateApiKey(): NewApiKeySecret {
  const secret = API_KEY_PREFIX + randomBytes(32).toString("base64url");
  return { secret, prefix: secret.slice(0, DISPLAY_PREFIX_LENGTH), hash: hashApiKey(secret) };
}

/** Cheap syntactic check before touching the database. */
export function looksLikeApiKey(token: string): boolean {
  return token.length === API_KEY_PREFIX.length + 43 && token.startsWith(API_KEY_PREFIX);
}
