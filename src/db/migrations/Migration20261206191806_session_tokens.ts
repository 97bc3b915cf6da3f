import { Migration } from '@mikro-orm/migrations';

// Session tokens (CustomerService.CreateSessionToken): tenant data under the same row-level
// security as every other tenant table (see Migration20261128193212_defence_in_depth).
const TENANT = `"tenant_id" = current_setting('app.tenant_id')::uuid`;
const OPERATOR = `current_setting('app.operator_reason') <> ''`;

export class Migration20261206191806_session_tokens extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "session_tokens" ("tenant_id" uuid not null, "id" uuid not null, "token_hash" text not null, "api_key_id" uuid not null, "customer_id" uuid null, "allowed_origins" jsonb not null default '[]', "create_time" timestamptz(6) not null, "expire_time" timestamptz(6) not null, constraint "session_tokens_pkey" primary key ("tenant_id", "id"));`);
    this.addSql(`create index "session_tokens_tenant_id_expire_time_idx" on "session_tokens" ("tenant_id", "expire_time");`);
    this.addSql(`alter table "session_tokens" add constraint "session_tokens_tenant_id_token_hash_key" unique ("tenant_id", "token_hash");`);
    this.addSql(`grant select, insert, update, delete on "session_tokens" to customerms_app, customerms_operator;`);
    this.addSql(`alter table "session_tokens" enable row level security, force row level security;`);
    this.addSql(`create policy "session_tokens_tenant_isolation" on "session_tokens" to customerms_app using (${TENANT}) with check (${TENANT});`);
    this.addSql(`create policy "session_tokens_operator_access" on "session_tokens" to customerms_operator using (${OPERATOR}) with check (${OPERATOR});`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "session_tokens" cascade;`);
  }

}
