// Development secrets: when a secret is not configured (outside production, where config.ts
// requires it), one is generated once, kept in the data directory with mode 0600, and reused.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface DevSecret {
  readonly value: string;
  /** "config", "file" (generated earlier), or "generated" (new now). */
  readonly source: "config" | "file" | "generated";
  readonly path?: string;
}

export async function resolveDevSecret(
  configured: string | undefined,
  dataDir: string,
  fileName: string,
  generate: () => string,
): Promise<DevSecret> {
  if (configured !== undefined) return { value: configured, source: "config" };
  const path = join(dataDir, fileName);
  try {
    const value = (await readFile(path, "utf8")).trim();
    if (value !== "") return { value, source: "file", path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const value = generate();
  // "wx": never overwrite a secret another process wrote meanwhile (data encrypted under it).
  await writeFile(path, `${value}\n`, { mode: 0o600, flag: "wx" });
  return { value, source: "generated", path };
}

export const randomBase64Url = (bytes: number) => randomBytes(bytes).toString("base64url");
