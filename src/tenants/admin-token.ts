// The operator's admin token: CUSTOMERMS_ADMIN_TOKEN, or (outside production) a generated one
// kept in <dataDir>/admin-token, so a newcomer can create a tenant in the first minute.
import { randomBase64Url, resolveDevSecret, type DevSecret } from "../db/dev-secret.js";

export type AdminToken = DevSecret;

export function resolveAdminToken(configured: string | undefined, dataDir: string): Promise<AdminToken> {
  return resolveDevSecret(configured, dataDir, "admin-token", () => `cmsadm_${randomBase64Url(32)}`);
}
