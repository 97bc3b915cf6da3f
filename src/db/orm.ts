// MikroORM configuration, shared by the service (src/app.ts), `npm run migrate` and the
// migration generator. Migrations are TypeScript files under src/db/migrations, listed
// explicitly in migrations/index.ts so they load the same way under tsx, tsc and vitest.
import { fileURLToPath } from "node:url";
import { defineConfig, MikroORM, type Options } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { CustomerEntity } from "../customers/customer.entity.js";
import { ApiKeyEntity, TenantAuditEntity, TenantDataKeyEntity, TenantEntity } from "../tenants/tenant.entity.js";
import { SessionTokenEntity } from "../tenants/session.entity.js";
import { CustomerEventEntity, TenantEventSequenceEntity } from "../events/event.entity.js";
import { IdempotencyEntity } from "./idempotency.entity.js";
import { migrationsList } from "./migrations/index.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

/** Where MikroORM's and knex's own messages go (migrator progress at debug, connection
 * trouble at warn); by default they are dropped, never printed raw to the console. */
export interface OrmLog {
  debug(message: string): void;
  warn(message: string): void;
}

const SILENT: OrmLog = { debug: () => undefined, warn: () => undefined };

/** `onConnect`: a statement every new pooled connection runs first (e.g. `set role ...`). */
export function ormOptions(clientUrl: string, poolMax: number, log: OrmLog = SILENT, onConnect?: string): Options {
  const text = (m: unknown) => (m instanceof Error ? m.message : String(m));
  return defineConfig({
    logger: (message) => log.debug(message),
    clientUrl,
    entities: [TenantEntity, TenantAuditEntity, TenantDataKeyEntity, ApiKeyEntity, CustomerEntity, CustomerEventEntity, TenantEventSequenceEntity, IdempotencyEntity, SessionTokenEntity],
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
    pool: {
      min: 0,
      max: poolMax,
      idleTimeoutMillis: 30_000,
      ...(onConnect === undefined
        ? {}
        : {
            afterCreate: (conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) =>
              conn.query(onConnect, (err) => done(err, conn)),
          }),
    },
    // Metadata comes from EntitySchema objects: no reflection, no cache directory to go stale.
    metadataCache: { enabled: false },
    discovery: { warnWhenNoEntities: true },
    forceUtcTimezone: true,
    allowGlobalContext: false,
    debug: false,
    // One connection attempt at start must not hang for minutes when the database is down.
    driverOptions: {
      connection: { connectionTimeoutMillis: 5_000 },
      // knex prints pool and connection errors with console.log unless given these.
      log: {
        warn: (m: unknown) => log.warn(text(m)),
        error: (m: unknown) => log.warn(text(m)),
        deprecate: (m: unknown) => log.debug(text(m)),
        debug: () => undefined,
      },
    },
  });
}

export async function openOrm(clientUrl: string, poolMax: number, log?: OrmLog, onConnect?: string): Promise<MikroORM> {
  return MikroORM.init(ormOptions(clientUrl, poolMax, log, onConnect));
}

/** Applies pending migrations; returns the names applied. */
export async function migrateUp(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
