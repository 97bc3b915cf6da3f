import { Migration } from '@mikro-orm/migrations';

export class Migration20261128170318_init extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "api_keys" ("id" uuid not null, "tenant_id" uuid not null, "display_name" text not null, "prefix" text not null, "key_hash" text not null, "create_time" timestamptz(6) not null, "revoke_time" timestamptz(6) null, constraint "api_keys_pkey" primary key ("id"));`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_key_hash_key" unique ("key_hash");`);
    this.addSql(`create index "api_keys_tenant_id_create_time_idx" on "api_keys" ("tenant_id", "create_time");`);

    this.addSql(`create table "customers" ("tenant_id" uuid not null, "id" uuid not null, "type" text not null, "status" text not null, "profile" jsonb not null, "email" text not null, "email_verified" boolean not null default false, "phone_number" text null, "phone_verified" boolean not null default false, "country_code" char(2) not null, "version" int not null default 1, "create_time" timestamptz(6) not null, "update_time" timestamptz(6) not null, constraint "customers_pkey" primary key ("tenant_id", "id"));`);
    this.addSql(`create index "customers_tenant_id_create_time_id_idx" on "customers" ("tenant_id", "create_time", "id");`);

    this.addSql(`create table "idempotency_records" ("tenant_id" uuid not null, "request_id" uuid not null, "method" text not null, "fingerprint" text not null, "response" bytea null, "create_time" timestamptz(6) not null, constraint "idempotency_records_pkey" primary key ("tenant_id", "request_id"));`);
    this.addSql(`create index "idempotency_records_tenant_id_create_time_idx" on "idempotency_records" ("tenant_id", "create_time");`);

    this.addSql(`create table "tenants" ("id" uuid not null, "display_name" text not null, "version" int not null default 1, "create_time" timestamptz(6) not null, "update_time" timestamptz(6) not null, constraint "tenants_pkey" primary key ("id"));`);
    this.addSql(`create index "tenants_create_time_id_idx" on "tenants" ("create_time", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "api_keys" cascade;`);

    this.addSql(`drop table if exists "customers" cascade;`);

    this.addSql(`drop table if exists "idempotency_records" cascade;`);

    this.addSql(`drop table if exists "tenants" cascade;`);
  }

}
