import { Migration } from '@mikro-orm/migrations';

export class Migration20261128174138_tenant_settings extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "tenants" add column "settings" jsonb not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "tenants" drop column "settings";`);
  }

}
