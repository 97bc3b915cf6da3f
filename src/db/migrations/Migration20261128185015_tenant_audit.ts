import { Migration } from '@mikro-orm/migrations';

export class Migration20261128185015_tenant_audit extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "tenant_audit" ("tenant_id" uuid not null, "id" uuid not null, "type" text not null, "actor" text not null, "changed_fields" jsonb not null, "version" int not null, "time" timestamptz(6) not null, constraint "tenant_audit_pkey" primary key ("tenant_id", "id"));`);
    this.addSql(`create index "tenant_audit_tenant_id_time_idx" on "tenant_audit" ("tenant_id", "time");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "tenant_audit" cascade;`);
  }

}
