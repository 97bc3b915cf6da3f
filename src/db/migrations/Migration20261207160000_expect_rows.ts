import { Migration } from '@mikro-orm/migrations';

// A guard for writes sent with the commit (db/scope.ts deferGuardedUntilCommit): an optimistic-lock
// update deferred to the commit's round trip runs as
//   with guarded as (update … where … and version = $v returning 1)
//   select customerms_expect_rows((select count(*) from guarded), 1, $tag)
// and fails the whole transaction, with SQLSTATE CMS01 and the caller's tag as DETAIL, when it
// did not change exactly the rows expected (another request changed the row meanwhile). The
// statements after it in the batch (the event, the stored response, the commit) never run.
export class Migration20261207160000_expect_rows extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create function "customerms_expect_rows"("p_affected" bigint, "p_expected" bigint, "p_tag" text)
      returns void language plpgsql volatile as $$
      begin
        if p_affected <> p_expected then
          raise exception 'customerms: % rows affected where % were expected', p_affected, p_expected
            using errcode = 'CMS01', detail = p_tag;
        end if;
      end $$;`);
    this.addSql(`revoke all on function "customerms_expect_rows"(bigint, bigint, text) from public;`);
    this.addSql(`grant execute on function "customerms_expect_rows"(bigint, bigint, text) to customerms_app;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "customerms_expect_rows"(bigint, bigint, text);`);
  }

}
