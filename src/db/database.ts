// Opens the database the configuration asks for: DATABASE_URL, or the embedded PGlite.
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Config } from "../config.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
import { openOrm, type OrmLog } from "./orm.js";

export interface Database {
  readonly orm: MikroORM;
  /** "postgresql" for DATABASE_URL, "embedded" for PGlite in the data directory. */
  readonly kind: "postgresql" | "embedded";
  /** The connection URL (for connections outside the pool, e.g. LISTEN). */
  readonly url: string;
  /** Answers when the database answers `select 1` within timeoutMs; rejects otherwise. */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function openDatabase(config: Config, log?: OrmLog): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (url === undefined) {
    embedded = await startEmbeddedPostgres(config.dataDir, config.databasePoolMax);
    url = embedded.url;
  }
  let orm: MikroORM;
  try {
    orm = await openOrm(url, config.databasePoolMax, log);
  } catch (err) {
    await embedded?.close();
    throw err;
  }
  return {
    orm,
    kind: embedded ? "embedded" : "postgresql",
    url,
    async ping(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([orm.em.getConnection().execute("select 1"), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await orm.close(true);
      await embedded?.close();
    },
  };
}
