// MikroORM configuration, shared by the service (src/app.ts), `npm run migrate` and the
// migration generator. Migrations are TypeScript files under src/db/migrations, listed
// explicitly in migrations/index.ts so they load the same way under tsx, tsc and vitest.
import { fileURLToPath } from "node:url";
import { defineConfig, MikroORM, type Options } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { CustomerEntity } from "../customers/customer.entity.js";
import { ApiKeyEntity, TenantEntity } from "../tenants/tenant.entity.js";
import { IdempotencyEntity } from "./idempotency.entity.js";
import { migrationsList } from "./migrations/index.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

/** Where MikroORM's own messages (migrator progress, warnings) go; default: dropped. */
export type OrmLog = (message: string) => void;

export function ormOptions(clientUrl: string, poolMax: number, log: OrmLog = () => undefined): Options {
  return defineConfig({
    logger: log,
    clientUrl,
    entities: [TenantEntity, ApiKeyEntity, CustomerEntity, IdempotencyEntity],
    extensions: [Migrator],
    migrations: {
      tableName: "mikro_orm_migrations",
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      migrationsList,
      transactional: true,
      allOrNothing: true,
      emit: "ts",
      snapshot: true,
      snapshotName: ".snapshot",
      fileName: (timestamp, name) => `Migration${timestamp}${name ? `_${name}` : ""}`,
    },
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    // Metadata comes from EntitySchema objects: no reflection, no cache directory to go stale.
    metadataCache: { enabled: false },
    discovery: { warnWhenNoEntities: true },
    forceUtcTimezone: true,
    allowGlobalContext: false,
    debug: false,
    // One connection attempt at start must not hang for minutes when the database is down.
    driverOptions: { connection: { connectionTimeoutMillis: 5_000 } },
  });
}

export async function openOrm(clientUrl: string, poolMax: number, log?: OrmLog): Promise<MikroORM> {
  return MikroORM.init(ormOptions(clientUrl, poolMax, log));
}

/** Applies pending migrations; returns the names applied. */
export async function migrateUp(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
