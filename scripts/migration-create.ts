// Generates a migration from the difference between the entities and the last snapshot, using a
// scratch database on DATABASE_URL's server (default: the local PostgreSQL) that it drops after.
// Usage: npm run migration:create -- <name>. Review the file, then add it to migrations/index.ts.
import pg from "pg";
import { MikroORM } from "@mikro-orm/postgresql";
import { ormOptions } from "../src/db/orm.js";

const base = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const scratch = `cms_migration_${process.pid}`;
const admin = new pg.Client({ connectionString: base });
await admin.connect();
await admin.query(`CREATE DATABASE ${scratch}`);
try {
  const url = new URL(base);
  url.pathname = `/${scratch}`;
  const orm = await MikroORM.init(ormOptions(url.toString(), 2));
  try {
    const migrator = orm.getMigrator();
    await migrator.up();
    const result = await migrator.createMigration(undefined, false, false, process.argv[2]);
    console.log(result.fileName ? `wrote ${result.fileName}` : "no changes: no migration written");
  } finally {
    await orm.close(true);
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${scratch}`);
  await admin.end();
}
