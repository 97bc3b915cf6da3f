import { Migration } from '@mikro-orm/migrations';

export class Migration20261128172353_customers_complete extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "customer_events" ("tenant_id" uuid not null, "id" uuid not null, "customer_id" uuid not null, "type" text not null, "actor" text not null, "request_id" uuid null, "reason" text null, "note" text not null default '', "changed_fields" jsonb not null, "time" timestamptz(6) not null, constraint "customer_events_pkey" primary key ("tenant_id", "id"));`);
    this.addSql(`create index "customer_events_tenant_id_customer_id_time_idx" on "customer_events" ("tenant_id", "customer_id", "time");`);

    this.addSql(`alter table "customers" add column "address" jsonb null, add column "external_id" text null, add column "metadata" jsonb not null default '{}', add column "links" jsonb not null default '[]', add column "status_reason" text null, add column "status_note" text not null default '', add column "status_time" timestamptz(6) not null default now();`);
    this.addSql(`create index "customers_tenant_id_email_idx" on "customers" ("tenant_id", "email");`);
    this.addSql(`create index "customers_tenant_id_phone_number_idx" on "customers" ("tenant_id", "phone_number");`);
    this.addSql(`create index "customers_tenant_id_external_id_idx" on "customers" ("tenant_id", "external_id");`);
    this.addSql(`create unique index "customers_live_email_key" on "customers" ("tenant_id", "email") where "status" <> 'closed' and "email" is not null;`);
    this.addSql(`create unique index "customers_live_phone_number_key" on "customers" ("tenant_id", "phone_number") where "status" <> 'closed' and "phone_number" is not null;`);
    this.addSql(`create unique index "customers_live_external_id_key" on "customers" ("tenant_id", "external_id") where "status" <> 'closed' and "external_id" is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "customer_events" cascade;`);

    this.addSql(`drop index "customers_tenant_id_email_idx";`);
    this.addSql(`drop index "customers_tenant_id_phone_number_idx";`);
    this.addSql(`drop index "customers_tenant_id_external_id_idx";`);
    this.addSql(`drop index "customers_live_email_key";`);
    this.addSql(`drop index "customers_live_phone_number_key";`);
    this.addSql(`drop index "customers_live_external_id_key";`);
    this.addSql(`alter table "customers" drop column "address", drop column "external_id", drop column "metadata", drop column "links", drop column "status_reason", drop column "status_note", drop column "status_time";`);
  }

}
