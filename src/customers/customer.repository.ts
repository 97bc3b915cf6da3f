// Data access for customers. Every query is scoped by tenant (and row-level security holds the
// transaction to it as well): a customer of another tenant is indistinguishable from one that
// does not exist. Writes are conditional on the version read (optimistic locking); a lost race
// returns false. Dates of birth are sealed here with the tenant's data key (db/envelope.ts), with
// the row and field as associated data; identifiers arrive sealed from the service.
import type { EntityManager, FilterQuery } from "@mikro-orm/postgresql";
import type { DataKeys, TenantCipher } from "../db/envelope.js";
import { deferGuardedUntilCommit, deferStatementUntilCommit, type Scopes } from "../db/scope.js";
import { sqlOf, statement } from "../db/sql.js";
import type { CalendarDate, Customer, CustomerStatus, CustomerType, Profile, Representative } from "./customer.js";
import { CustomerEntity, type CustomerRow } from "./customer.entity.js";

const dobField = (c: { tenantId: string; id: string }, path: string) => `${c.tenantId}/${c.id}/${path}`;
const repDobPath = (r: { id: string }) => `business.representatives.${r.id}.date_of_birth`;

function sealDate(cipher: TenantCipher, d: CalendarDate | null, aad: string): string | null {
  return d === null ? null : cipher.seal(JSON.stringify({ year: d.year, month: d.month, day: d.day }), aad);
}

/** Rows written before dates were sealed hold the date itself. */
function openDate(cipher: TenantCipher, stored: unknown, aad: string): CalendarDate | null {
  if (stored === null || stored === undefined) return null;
  if (typeof stored === "string") return JSON.parse(cipher.open(stored, aad)) as CalendarDate;
  return stored as CalendarDate;
}

function sealProfile(c: Customer, cipher: TenantCipher): Record<string, unknown> {
  const { kind: _kind, ...profile } = c.profile;
  if (c.profile.kind === "individual") {
    return { ...profile, dateOfBirth: sealDate(cipher, c.profile.dateOfBirth, dobField(c, "individual.date_of_birth")) };
  }
  return {
    ...profile,
    representatives: c.profile.representatives.map((r) => ({ ...r, dateOfBirth: sealDate(cipher, r.dateOfBirth, dobField(c, repDobPath(r))) })),
  };
}

function openProfile(r: CustomerRow, cipher: TenantCipher): Profile {
  const p = r.profile;
  if (r.type === "individual") {
    return { ...p, kind: "individual", dateOfBirth: openDate(cipher, p.dateOfBirth, dobField(r, "individual.date_of_birth")) } as unknown as Profile;
  }
  const reps = (p.representatives ?? []) as Array<Representative & { dateOfBirth: unknown }>;
  return {
    ...p,
    kind: "business",
    representatives: reps.map((rep) => ({ ...rep, dateOfBirth: openDate(cipher, rep.dateOfBirth, dobField(r, repDobPath(rep))) })),
  } as unknown as Profile;
}

function identifierIndexOf(p: Profile): string | null {
  const id = p.kind === "individual" ? p.nationalId : p.taxId;
  return id?.index ?? null;
}

function toRow(c: Customer, cipher: TenantCipher): CustomerRow {
  return {
    tenantId: c.tenantId,
    id: c.id,
    type: c.type,
    status: c.status,
    profile: sealProfile(c, cipher),
    email: c.email,
    emailVerified: c.emailVerified,
    emailVerifyTime: c.emailVerifyTime,
    phoneNumber: c.phoneNumber,
    phoneVerified: c.phoneVerified,
    phoneVerifyTime: c.phoneVerifyTime,
    countryCode: c.countryCode,
    address: c.address as Record<string, unknown> | null,
    externalId: c.externalId,
    identifierIndex: identifierIndexOf(c.profile),
    eraseTime: c.eraseTime,
    metadata: { ...c.metadata },
    links: c.links.map((l) => ({ kind: l.kind, externalId: l.externalId, linkTime: l.linkTime.toISOString() })),
    statusReason: c.statusReason,
    statusNote: c.statusNote,
    statusTime: c.statusTime,
    version: c.version,
    createTime: c.createTime,
    updateTime: c.updateTime,
  };
}

function fromRow(r: CustomerRow, cipher: TenantCipher): Customer {
  return {
    tenantId: r.tenantId,
    id: r.id,
    type: r.type as CustomerType,
    status: r.status as CustomerStatus,
    profile: openProfile(r, cipher),
    email: r.email,
    emailVerified: r.emailVerified,
    emailVerifyTime: r.emailVerifyTime,
    phoneNumber: r.phoneNumber,
    phoneVerified: r.phoneVerified,
    phoneVerifyTime: r.phoneVerifyTime,
    countryCode: r.countryCode,
    address: r.address as Customer["address"],
    externalId: r.externalId,
    eraseTime: r.eraseTime,
    metadata: r.metadata ?? {},
    links: (r.links ?? []).map((l) => ({
      kind: l.kind as Customer["links"][number]["kind"],
      externalId: String(l.externalId),
      linkTime: new Date(String(l.linkTime)),
    })),
    statusReason: r.statusReason as Customer["statusReason"],
    statusNote: r.statusNote,
    statusTime: r.statusTime,
    version: r.version,
    createTime: r.createTime,
    updateTime: r.updateTime,
  };
}

export interface CustomerFilter {
  readonly status?: CustomerStatus;
  readonly type?: CustomerType;
  readonly email?: string;
  readonly phoneNumber?: string;
  readonly externalId?: string;
  /** Blind index of a government identifier (TenantCipher.blindIndex of "<type>:<normalised>"). */
  readonly identifierIndex?: string;
  readonly createdAfter?: Date;
  readonly createdBefore?: Date;
}

/** Position after which a page continues, newest first. */
export interface CustomerCursor {
  readonly createTime: Date;
  readonly id: string;
}

export type UniqueField = "email" | "phone_number" | "external_id";

/** The partial unique indexes, by the field they protect. */
export const UNIQUE_CONSTRAINTS: Readonly<Record<string, UniqueField>> = {
  customers_live_email_key: "email",
  customers_live_phone_number_key: "phone_number",
  customers_live_external_id_key: "external_id",
};

/** customers' columns as CustomerRow properties (the default naming: camelCase ↔ snake_case).
 * The pool's driver hands timestamps over as text (MikroORM parses them itself): so do we. */
const COLUMNS = Object.entries(CustomerEntity.meta.properties).map(([name, prop]) => ({
  name: name as keyof CustomerRow,
  column: name.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`),
  date: (prop as { type?: unknown }).type === "Date",
  json: (prop as { type?: unknown }).type === "json",
}));
const SELECT_LIST = COLUMNS.map((c) => `"${c.column}"`).join(", ");
/** The columns read back under their CustomerRow names: pg builds the row object, and only the
 * timestamps need converting (rowFromRaw). */
const READ_LIST = COLUMNS.map((c) => `"${c.column}" as "${c.name}"`).join(", ");
const DATE_NAMES = COLUMNS.filter((c) => c.date).map((c) => c.name);

/** A new row, every column as a parameter (db/sql.ts: the ORM's insert cost a third of
 * CreateCustomer's CPU). JSON columns go as text: pg would send a JS array as a PostgreSQL array. */
const INSERT = statement(
  "customer_insert",
  `insert into "customers" (${SELECT_LIST}) values (${COLUMNS.map((c, i) => `$${i + 1}${c.json ? "::jsonb" : ""}`).join(", ")})`,
);
/** GetCustomer's one statement: customer_by_id (migration 20261207041000) sets the tenant scope
 * and its lock_timeout ($3, appended by Scopes.tenantCall) and reads the row. */
const BY_ID = statement("customer_by_id", `select ${READ_LIST} from customer_by_id($1, $2, $3)`);
const FIND = statement("customer_find", `select ${READ_LIST} from "customers" where "tenant_id" = $1 and "id" = $2`);

/** Every column but the key, conditional on the version read (optimistic locking); the values
 * are insertValues', so $1 and $2 are tenant_id and id. */
const UPDATE = (() => {
  const key = new Set(["tenant_id", "id"]);
  const set = COLUMNS.map((c, i) => (key.has(c.column) ? undefined : `"${c.column}" = $${i + 1}${c.json ? "::jsonb" : ""}`)).filter((x) => x !== undefined);
  const at = (column: string) => COLUMNS.findIndex((c) => c.column === column) + 1;
  return statement(
    "customer_update",
    `update "customers" set ${set.join(", ")} where "tenant_id" = $${at("tenant_id")} and "id" = $${at("id")} and "version" = $${COLUMNS.length + 1}`,
  );
})();
function insertValues(row: CustomerRow): unknown[] {
  return COLUMNS.map((c) => {
    const v = row[c.name];
    return c.json && v !== null && v !== undefined ? JSON.stringify(v) : (v ?? null);
  });
}

/** A row read with READ_LIST, its timestamps made Dates in place. (It used to copy all 24
 * columns into a new object under their property names: ≈ 4 µs per customer in the bench's CPU
 * profile, 50 times per ListCustomers page.) */
function rowFromRaw(raw: Record<string, unknown>): CustomerRow {
  for (const name of DATE_NAMES) {
    const v = raw[name];
    if (v !== null && v !== undefined && !(v instanceof Date)) raw[name] = new Date(String(v));
  }
  return raw as unknown as CustomerRow;
}

export class CustomerRepository {
  constructor(
    private readonly keys: DataKeys,
    private readonly scopes?: Scopes,
  ) {}

  /**
   * GetCustomer's path: one prepared statement (Scopes.tenantCall of the customer_by_id function,
   * which sets the tenant scope itself), for a tenant whose data key this
   * process holds. undefined = not possible here (no key cached yet): use findById in a
   * tenant transaction instead.
   */
  async findByIdOneTrip(tenantId: string, id: string, deadline?: number): Promise<Customer | null | undefined> {
    const cipher = this.keys.cached(tenantId);
    if (cipher === undefined || this.scopes === undefined) return undefined;
    const rows = await this.scopes.tenantCall<Record<string, unknown>>(BY_ID, [tenantId, id], deadline);
    return rows.length === 0 ? null : fromRow(rowFromRaw(rows[0]!), cipher);
  }

  /** Sent with the commit (scope.ts deferUntilCommit): nothing in a create reads the row back,
   * and a unique violation fails the commit with the same converted error as it would here. */
  async insert(em: EntityManager, customer: Customer): Promise<void> {
    deferStatementUntilCommit(em, INSERT, insertValues(toRow(customer, await this.keys.forTenant(em, customer.tenantId))));
  }

  async findById(em: EntityManager, tenantId: string, id: string): Promise<Customer | null> {
    const [raw] = await sqlOf(em).rows<Record<string, unknown>>(FIND, [tenantId, id]);
    return raw === undefined ? null : fromRow(rowFromRaw(raw), await this.keys.forTenant(em, tenantId));
  }

  /** Writes `next` if the stored version is still `expectedVersion`; false if it is not. */
  async update(em: EntityManager, next: Customer, expectedVersion: number): Promise<boolean> {
    const values = insertValues(toRow(next, await this.keys.forTenant(em, next.tenantId)));
    return (await sqlOf(em).run(UPDATE, [...values, expectedVersion])) === 1;
  }

  /** `update` sent with the commit (scope.ts deferGuardedUntilCommit): when the stored version is
   * no longer `expectedVersion`, the transaction fails with `missed()` and writes nothing. */
  async updateAtCommit(em: EntityManager, next: Customer, expectedVersion: number, missed: () => Error): Promise<void> {
    const values = insertValues(toRow(next, await this.keys.forTenant(em, next.tenantId)));
    deferGuardedUntilCommit(em, UPDATE, [...values, expectedVersion], missed);
  }

  async list(em: EntityManager, tenantId: string, filter: CustomerFilter, limit: number, after?: CustomerCursor): Promise<Customer[]> {
    const and: Array<FilterQuery<CustomerRow>> = [{ tenantId }];
    if (filter.status) and.push({ status: filter.status });
    if (filter.type) and.push({ type: filter.type });
    if (filter.email !== undefined) and.push({ email: filter.email });
    if (filter.phoneNumber !== undefined) and.push({ phoneNumber: filter.phoneNumber });
    if (filter.externalId !== undefined) and.push({ externalId: filter.externalId });
    if (filter.identifierIndex !== undefined) and.push({ identifierIndex: filter.identifierIndex });
    if (filter.createdAfter) and.push({ createTime: { $gte: filter.createdAfter } });
    if (filter.createdBefore) and.push({ createTime: { $lt: filter.createdBefore } });
    if (after) {
      and.push({ $or: [{ createTime: { $lt: after.createTime } }, { createTime: after.createTime, id: { $lt: after.id } }] });
    }
    const rows = await em.find(CustomerEntity, { $and: and }, {
      orderBy: { createTime: "desc", id: "desc" },
      limit,
      disableIdentityMap: true,
    });
    const cipher = await this.keys.forTenant(em, tenantId);
    return rows.map((r) => fromRow(r, cipher));
  }

  /**
   * ListCustomers' path in one round trip (Scopes.tenantRead, as findByIdOneTrip): the same
   * filters, order and keyset as `list`, without the ORM's transaction, query builder and
   * hydration. undefined = the tenant's data key is not cached here: use `list` instead.
   */
  async listOneTrip(tenantId: string, filter: CustomerFilter, limit: number, after?: CustomerCursor, deadline?: number): Promise<Customer[] | undefined> {
    const cipher = this.keys.cached(tenantId);
    if (cipher === undefined || this.scopes === undefined) return undefined;
    const rows = await this.scopes.tenantRead<Record<string, unknown>>(tenantId, (lit) => {
      const where = [`"tenant_id" = ${lit(tenantId)}`];
      const equal: Array<[string, string | undefined]> = [
        ["status", filter.status],
        ["type", filter.type],
        ["email", filter.email],
        ["phone_number", filter.phoneNumber],
        ["external_id", filter.externalId],
        ["identifier_index", filter.identifierIndex],
      ];
      for (const [column, value] of equal) if (value !== undefined && value !== "") where.push(`"${column}" = ${lit(value)}`);
      if (filter.createdAfter) where.push(`"create_time" >= ${lit(filter.createdAfter.toISOString())}`);
      if (filter.createdBefore) where.push(`"create_time" < ${lit(filter.createdBefore.toISOString())}`);
      if (after) where.push(`("create_time", "id") < (${lit(after.createTime.toISOString())}, ${lit(after.id)})`);
      return `select ${READ_LIST} from "customers" where ${where.join(" and ")} order by "create_time" desc, "id" desc limit ${Math.trunc(limit)}`;
    }, deadline);
    return rows.map((r) => fromRow(rowFromRaw(r), cipher));
  }

  /** The non-closed customer holding a unique value, if any (to explain a conflict). */
  async findLiveBy(em: EntityManager, tenantId: string, field: UniqueField, value: string): Promise<string | null> {
    const where: FilterQuery<CustomerRow> =
      field === "email" ? { tenantId, email: value } : field === "phone_number" ? { tenantId, phoneNumber: value } : { tenantId, externalId: value };
    const row = await em.findOne(CustomerEntity, { $and: [where, { status: { $ne: "closed" } }] }, { fields: ["id"], disableIdentityMap: true });
    return row?.id ?? null;
  }
}
