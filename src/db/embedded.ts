// Embedded PostgreSQL for the zero-configuration default: PGlite (PostgreSQL compiled to WASM)
// with its data in <dataDir>/pgdata, served on a loopback port by pglite-socket so the unchanged
// PostgreSQL driver and entities work. One process only: PGlite runs one query at a time.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  readonly url: string;
  readonly dataDir: string;
  close(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string, maxConnections: number): Promise<EmbeddedPostgres> {
  const pgData = join(dataDir, "pgdata");
  await mkdir(pgData, { recursive: true });
  const db = await PGlite.create({ dataDir: pgData });
  // One more connection than the pool, for the health check and migrations.
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: maxConnections + 2 });
  await server.start();
  const url = `postgresql://postgres:postgres@${server.getServerConn()}/postgres?sslmode=disable`;
  return {
    url,
    dataDir: pgData,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
