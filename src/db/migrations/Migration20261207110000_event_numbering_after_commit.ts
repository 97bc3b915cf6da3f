import { Migration } from '@mikro-orm/migrations';

// Event numbers are given AFTER the writing transaction commits, in batches, instead of inside it
// (docs/architecture.md §6 and §14). Until now every event-writing transaction of a tenant
// upserted the tenant's row of tenant_event_sequences and kept it locked until its commit: one
// tenant's writes queued one by one for that row, and `npm run bench:events` put the price at
// about 740 µs of PostgreSQL CPU per transaction at 20 connections (a plain insert: about 140).
// Now:
// - a writer inserts its event with `seq` null; `append_order` (a plain sequence, no lock) records
//   the order in which events were appended, which is commit order for transactions that touched
//   the same customer (the later one waited for the earlier one's row lock before appending);
// - after the commit, number_customer_events(tenant) locks the tenant's counter row, takes the
//   committed events without a number in append_order and numbers them last_seq + 1, 2, ... in
//   its own short transaction, then notifies the stream readers. The writing call waits for a
//   numbering that started after its commit (events/event.sequencer.ts), so it still reads its
//   own event with its number; the readers (seq > cursor) see a whole batch at once or nothing:
//   the numbers stay gapless and in the order they become visible.
// - p_lock_timeout: scopes.tenantCall's last parameter ('' = no bound), as customer_by_id.
export class Migration20261207110000_event_numbering_after_commit extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create sequence "customer_events_append_order_seq";`);
    this.addSql(`grant usage on sequence "customer_events_append_order_seq" to customerms_app, customerms_operator;`);
    // Existing events are numbered already: no order needed, and no table rewrite for a default.
    this.addSql(`alter table "customer_events" add column "append_order" bigint null;`);
    this.addSql(`alter table "customer_events" alter column "append_order" set default nextval('customer_events_append_order_seq');`);
    this.addSql(`alter table "customer_events" alter column "seq" drop not null;`);
    this.addSql(`create index "customer_events_unnumbered_idx" on "customer_events" ("tenant_id", "append_order") where "seq" is null;`);
    // The rows are numbered one by one through a cursor (`where current of`: by the row's
    // address, nothing for the planner to choose). A join of the pending rows with the table
    // was planned (and the plan cached) while the table was still small and unanalysed: a nested
    // loop over every event of the tenant, 200 ms per numbering at 16 000 events in the bench.
    // The cursor's own query reads the partial index of unnumbered rows, in append order.
    this.addSql(`create function "number_customer_events"("p_tenant_id" uuid, "p_limit" integer, "p_lock_timeout" text)
      returns integer
      language plpgsql volatile as $$
      declare
        v_last bigint;
        v_count integer := 0;
        v_pending cursor for select from customer_events e where e.tenant_id = p_tenant_id and e.seq is null order by e.append_order limit p_limit for update;
      begin
        perform set_config('app.tenant_id', p_tenant_id::text, true), set_config('lock_timeout', coalesce(nullif(p_lock_timeout, ''), '0'), true);
        -- One numbering at a time per tenant: the counter row stays locked until this commits.
        select last_seq into v_last from tenant_event_sequences where tenant_id = p_tenant_id for update;
        if not found then
          insert into tenant_event_sequences (tenant_id, last_seq) values (p_tenant_id, 0) on conflict (tenant_id) do nothing;
          select last_seq into v_last from tenant_event_sequences where tenant_id = p_tenant_id for update;
        end if;
        -- The cursor opens with a new snapshot (each statement of a volatile function takes one):
        -- every event committed before the lock was granted, numbered or not by the numbering
        -- that held it.
        for r in v_pending loop
          v_last := v_last + 1;
          v_count := v_count + 1;
          update customer_events set seq = v_last where current of v_pending;
        end loop;
        if v_count > 0 then
          update tenant_event_sequences set last_seq = v_last where tenant_id = p_tenant_id;
          perform pg_notify('cms_customer_events', p_tenant_id::text);
        end if;
        return v_count;
      end $$;`);
    this.addSql(`revoke all on function "number_customer_events"(uuid, integer, text) from public;`);
    this.addSql(`grant execute on function "number_customer_events"(uuid, integer, text) to customerms_app;`);
  }

  override async down(): Promise<void> {
    // Number what is still unnumbered the old way (by append order) before seq is required again.
    this.addSql(`update "customer_events" e set "seq" = n.seq from (
        select u."tenant_id", u."id", coalesce(s."last_seq", 0) + row_number() over (partition by u."tenant_id" order by u."append_order") as seq
          from "customer_events" u left join "tenant_event_sequences" s on s."tenant_id" = u."tenant_id" where u."seq" is null
      ) n where e."tenant_id" = n."tenant_id" and e."id" = n."id";`);
    this.addSql(`insert into "tenant_event_sequences" ("tenant_id", "last_seq") select "tenant_id", max("seq") from "customer_events" group by "tenant_id"
      on conflict ("tenant_id") do update set "last_seq" = excluded."last_seq";`);
    this.addSql(`drop function if exists "number_customer_events"(uuid, integer, text);`);
    this.addSql(`drop index if exists "customer_events_unnumbered_idx";`);
    this.addSql(`alter table "customer_events" alter column "seq" set not null;`);
    this.addSql(`alter table "customer_events" drop column "append_order";`);
    this.addSql(`drop sequence if exists "customer_events_append_order_seq";`);
  }

}
