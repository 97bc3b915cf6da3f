// The operator's admin token. Production: CUSTOMERMS_ADMIN_TOKEN (config.ts refuses to start
// without it). Elsewhere, when unset: generated once, kept in <dataDir>/admin-token (mode 0600)
// and reused, so a newcomer can create a tenant in the first minute.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface AdminToken {
  readonly token: string;
  /** "config", "file" (an earlier generated token), or "generated" (new: show it once). */
  readonly source: "config" | "file" | "generated";
  readonly path?: string;
}

export async function resolveAdminToken(configured: string | undefined, dataDir: string): Promise<AdminToken> {
  if (configured !== undefined) return { token: configured, source: "config" };
  const path = join(dataDir, "admin-token");
  try {
    const token = (await readFile(path, "utf8")).trim();
    if (token.length >= 32) return { token, source: "file", path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const token = `cmsadm_${randomBytes(32).toString("base64url")}`;
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: "w" });
  return { token, source: "generated", path };
}
