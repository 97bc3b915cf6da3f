// `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded database in
// CUSTOMERMS_DATA_DIR when DATABASE_URL is unset (the same choice the service makes).
import { loadConfig, ConfigError } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { migrateUp } from "../src/db/orm.js";

try {
  const config = loadConfig();
  const db = await openDatabase(config, { debug: (m) => console.log(m), warn: (m) => console.warn(m) });
  try {
    const applied = await migrateUp(db.orm);
    console.log(applied.length > 0 ? `applied: ${applied.join(", ")}` : "database is up to date");
  } finally {
    await db.close();
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exitCode = 1;
}
