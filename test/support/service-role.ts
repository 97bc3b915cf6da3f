// The login role a service connects as in tests and benchmarks: LOGIN, a member of customerms_app
// (created by the migrations), nothing else, so row-level security applies as in production.
// Roles are cluster-wide and shared by concurrent runs: created once, never dropped.
import type pg from "pg";

export async function ensureServiceRole(owner: pg.ClientBase, role: string): Promise<void> {
  await owner.query(`do $$ begin
    if not exists (select from pg_roles where rolname = '${role}') then create role ${role} login; end if;
  exception when duplicate_object or unique_violation then null; end $$`);
  await owner.query(`grant customerms_app to ${role}`);
}

/** `url` with the role as its user (no password: trust or peer authentication). */
export function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = "";
  return u.toString();
}
