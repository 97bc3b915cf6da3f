import { Migration } from '@mikro-orm/migrations';

export class Migration20261128175205_event_sequence extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "tenant_event_sequences" ("tenant_id" uuid not null, "last_seq" bigint not null, constraint "tenant_event_sequences_pkey" primary key ("tenant_id"));`);

    this.addSql(`drop index "customer_events_tenant_id_customer_id_time_idx";`);

    // Existing events are numbered in their time order, and each tenant's counter starts after them.
    this.addSql(`alter table "customer_events" add column "seq" bigint null, add column "details" jsonb not null default '{}';`);
    this.addSql(`update "customer_events" e set "seq" = n.rn from (select "tenant_id", "id", row_number() over (partition by "tenant_id" order by "time", "id") as rn from "customer_events") n where e."tenant_id" = n."tenant_id" and e."id" = n."id";`);
    this.addSql(`alter table "customer_events" alter column "seq" set not null;`);
    this.addSql(`insert into "tenant_event_sequences" ("tenant_id", "last_seq") select "tenant_id", max("seq") from "customer_events" group by "tenant_id";`);
    this.addSql(`create index "customer_events_tenant_id_customer_id_seq_idx" on "customer_events" ("tenant_id", "customer_id", "seq");`);
    this.addSql(`alter table "customer_events" add constraint "customer_events_tenant_id_seq_key" unique ("tenant_id", "seq");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "tenant_event_sequences" cascade;`);

    this.addSql(`drop index "customer_events_tenant_id_customer_id_seq_idx";`);
    this.addSql(`alter table "customer_events" drop constraint "customer_events_tenant_id_seq_key";`);
    this.addSql(`alter table "customer_events" drop column "seq", drop column "details";`);

    this.addSql(`CREATE INDEX customer_events_tenant_id_customer_id_time_idx ON public.customer_events USING btree (tenant_id, customer_id, "time");`);
  }

}
