import { Migration } from '@mikro-orm/migrations';

// Row-level security (docs/architecture.md, "Tenant isolation in the database"):
// - customerms_app: what the service's login role is a member of. Its policies admit only rows of
//   current_setting('app.tenant_id'), which every tenant transaction sets with set_config(..., true).
//   No missing_ok: a transaction that did not set a tenant fails instead of seeing all rows.
// - customerms_operator: for the few paths that span tenants (API key lookup, TenantService, the
//   CORS origin list). A transaction switches to it with set_config('role', ..., true) and must
//   state a reason in app.operator_reason, or its policies admit nothing.
// customerms_app is NOINHERIT, so a login role that is a member of it gets the app's privileges
// and policies but NOT the operator's: those need the explicit, transaction-scoped role switch.
const TENANT_TABLES: ReadonlyArray<readonly [table: string, column: string]> = [
  ['tenants', 'id'],
  ['tenant_audit', 'tenant_id'],
  ['tenant_data_keys', 'tenant_id'],
  ['api_keys', 'tenant_id'],
  ['customers', 'tenant_id'],
  ['customer_events', 'tenant_id'],
  ['tenant_event_sequences', 'tenant_id'],
  ['idempotency_records', 'tenant_id'],
];

export class Migration20261128193212_defence_in_depth extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "tenant_data_keys" ("tenant_id" uuid not null, "key_id" text not null, "wrapped_key" text not null, "create_time" timestamptz(6) not null, "update_time" timestamptz(6) not null, constraint "tenant_data_keys_pkey" primary key ("tenant_id"));`);

    this.addSql(`alter table "api_keys" add column "scopes" jsonb not null default '["read","write","verify"]', add column "expire_time" timestamptz(6) null, add column "last_use_time" timestamptz(6) null;`);

    this.addSql(`alter table "customers" add column "identifier_index" text null, add column "erase_time" timestamptz(6) null;`);
    this.addSql(`create index "customers_tenant_id_identifier_index_idx" on "customers" ("tenant_id", "identifier_index");`);

    this.addSql(`alter table "idempotency_records" add column "resource_id" uuid null;`);
    this.addSql(`create index "idempotency_records_tenant_id_resource_id_idx" on "idempotency_records" ("tenant_id", "resource_id");`);

    // Roles are cluster-wide: create them once, whichever database migrates first.
    this.addSql(`do $$ begin
      if not exists (select from pg_roles where rolname = 'customerms_operator') then create role customerms_operator nologin; end if;
      if not exists (select from pg_roles where rolname = 'customerms_app') then create role customerms_app nologin noinherit; end if;
    exception when duplicate_object or unique_violation then null; end $$;`);
    this.addSql(`grant customerms_operator to customerms_app;`);
    this.addSql(`grant usage on schema public to customerms_app, customerms_operator;`);
    for (const [table, column] of TENANT_TABLES) {
      const tenant = `"${column}" = current_setting('app.tenant_id')::uuid`;
      const operator = `current_setting('app.operator_reason') <> ''`;
      this.addSql(`grant select, insert, update, delete on "${table}" to customerms_app, customerms_operator;`);
      this.addSql(`alter table "${table}" enable row level security, force row level security;`);
      this.addSql(`create policy "${table}_tenant_isolation" on "${table}" to customerms_app using (${tenant}) with check (${tenant});`);
      this.addSql(`create policy "${table}_operator_access" on "${table}" to customerms_operator using (${operator}) with check (${operator});`);
    }
  }

  override async down(): Promise<void> {
    for (const [table] of TENANT_TABLES) {
      this.addSql(`drop policy if exists "${table}_tenant_isolation" on "${table}";`);
      this.addSql(`drop policy if exists "${table}_operator_access" on "${table}";`);
      this.addSql(`alter table "${table}" no force row level security, disable row level security;`);
      this.addSql(`revoke all on "${table}" from customerms_app, customerms_operator;`);
    }
    this.addSql(`revoke usage on schema public from customerms_app, customerms_operator;`);
    // The roles stay: other databases of the cluster may use them.

    this.addSql(`drop table if exists "tenant_data_keys" cascade;`);

    this.addSql(`alter table "api_keys" drop column "scopes", drop column "expire_time", drop column "last_use_time";`);

    this.addSql(`drop index "customers_tenant_id_identifier_index_idx";`);
    this.addSql(`alter table "customers" drop column "identifier_index", drop column "erase_time";`);

    this.addSql(`drop index "idempotency_records_tenant_id_resource_id_idx";`);
    this.addSql(`alter table "idempotency_records" drop column "resource_id";`);
  }

}
