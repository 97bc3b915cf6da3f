// `npm run migrate`: applies pending migrations with the schema owner's connection
// (DATABASE_MIGRATION_URL, default DATABASE_URL), or to the embedded database in
// CUSTOMERMS_DATA_DIR when DATABASE_URL is unset (the same choice the service makes).
import { loadConfig, ConfigError } from "../src/config.js";
import { migrateDatabase } from "../src/db/database.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";

try {
  const config = loadConfig();
  const embedded = config.databaseMigrationUrl === undefined ? await startEmbeddedPostgres(config.dataDir, 1) : undefined;
  try {
    const applied = await migrateDatabase(config.databaseMigrationUrl ?? embedded!.url, { debug: (m) => console.log(m), warn: (m) => console.warn(m) });
    console.log(applied.length > 0 ? `applied: ${applied.join(", ")}` : "database is up to date");
  } finally {
    await embedded?.close();
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exitCode = 1;
}
