import { Migration } from '@mikro-orm/migrations';

export class Migration20261128173233_verification extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "customers" add column "email_verify_time" timestamptz(6) null, add column "phone_verify_time" timestamptz(6) null;`);

    this.addSql(`alter table "tenants" add column "verification_policy" jsonb not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "customers" drop column "email_verify_time", drop column "phone_verify_time";`);

    this.addSql(`alter table "tenants" drop column "verification_policy";`);
  }

}
