// Customer use cases. Each runs inside the transaction it is given (see db/idempotency.ts) and
// writes exactly one event row with its change. Government identifiers arrive in plain text and
// are sealed here, with the row and field as associated data, before the domain sees them.
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { UniqueConstraintViolationException } from "@mikro-orm/core";
import { AppError, invalidArgument, notFound, type FieldViolation } from "../errors.js";
import type { DataKeys, TenantCipher } from "../db/envelope.js";
import { flushDeferred, type Transact } from "../db/scope.js";
import { IdempotencyEntity } from "../db/idempotency.entity.js";
import { identifierKind } from "../compliance/identifiers.js";
import type { EventRepository } from "../events/event.repository.js";
import { countryViolations, evaluateRequirements, identifierViolations, type Requirements } from "../compliance/requirements.js";
import type { TenantSettings } from "../tenants/tenant.entity.js";
import {
  addLink,
  changedFields,
  checkDetails,
  checkEtag,
  closedError,
  ERASED_FIELDS,
  erasePersonalData,
  markContactVerified,
  registerCustomer,
  removeLink,
  transition,
  updateCustomer,
  type BusinessProfile,
  type Customer,
  type CustomerDetails,
  type IndividualProfile,
  type LinkKind,
  type Representative,
  type SealedIdentifier,
  type Transition,
} from "./customer.js";
import {
  UNIQUE_CONSTRAINTS,
  type CustomerCursor,
  type CustomerFilter,
  type CustomerRepository,
  type UniqueField,
} from "./customer.repository.js";

export type { Requirement, Requirements } from "../compliance/requirements.js";

/** An identifier as a caller sends it. */
export interface PlainIdentifier {
  readonly type: string;
  readonly value: string;
}
type IdentifierDraft = SealedIdentifier | PlainIdentifier | null;

export type IndividualDraft = Omit<IndividualProfile, "nationalId"> & { readonly nationalId: IdentifierDraft };
export type BusinessDraft = Omit<BusinessProfile, "taxId"> & { readonly taxId: IdentifierDraft };
/** Customer details as requested: identifiers may still be in plain text, representatives may
 * lack ids (new) or carry the id of an existing one (kept). */
export interface DetailsDraft extends Omit<CustomerDetails, "profile"> {
  readonly profile: IndividualDraft | BusinessDraft;
}

/** Who made a change, for the audit trail. */
export interface Actor {
  readonly id: string;
  readonly requestId: string | null;
}

const EVENT_TYPES = {
  activate: "CUSTOMER_ACTIVATED",
  suspend: "CUSTOMER_SUSPENDED",
  close: "CUSTOMER_CLOSED",
} as const;

const CONFLICT_REASONS: Record<UniqueField, string> = {
  email: "EMAIL_ALREADY_EXISTS",
  phone_number: "PHONE_NUMBER_ALREADY_EXISTS",
  external_id: "EXTERNAL_ID_ALREADY_EXISTS",
};

function last4(value: string): string {
  return value.replace(/[^A-Za-z0-9]/g, "").slice(-4);
}

/** What the customer use cases need to know of the tenant (cached by TenantService). */
export interface TenantSettingsSource {
  profile(tenantId: string, em?: EntityManager): Promise<{ readonly settings: TenantSettings }>;
}

/** The tenant's channels and countries of operation allow this customer (SCT01-03). */
function checkTenantScope(settings: TenantSettings, type: Customer["type"], countryCode: string): void {
  const channel = type === "individual" ? "b2c" : "b2b";
  if (settings.channels !== undefined && !settings.channels.includes(channel)) {
    throw new AppError("PERMISSION_DENIED", `the tenant does not serve the ${channel.toUpperCase()} channel: it cannot register ${type} customers`, {
      reason: "CHANNEL_NOT_ENABLED",
      metadata: { channel: channel.toUpperCase() },
    });
  }
  const countries = settings.countries ?? [];
  if (countries.length > 0 && !countries.includes(countryCode)) {
    throw new AppError("FAILED_PRECONDITION", `the tenant does not operate in ${countryCode}`, {
      reason: "COUNTRY_NOT_ENABLED",
      metadata: { country_code: countryCode },
    });
  }
}

function concurrentModification(): AppError {
  return new AppError("ABORTED", "the customer was changed by another request meanwhile; read it again and retry", {
    reason: "CONCURRENT_MODIFICATION",
  });
}

/** How often markVerified tries to set a flag on a customer that other requests keep changing. */
const MARK_VERIFIED_ATTEMPTS = 3;

export class CustomerService {
  constructor(
    private readonly repo: CustomerRepository,
    private readonly events: EventRepository,
    private readonly keys: DataKeys,
    private readonly tenants: TenantSettingsSource,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(em: EntityManager, tenantId: string, draft: DetailsDraft, actor: Actor): Promise<Customer> {
    checkTenantScope((await this.tenants.profile(tenantId, em)).settings, draft.profile.kind, draft.countryCode);
    const id = randomUUID();
    const details = this.resolve(await this.keys.forTenant(em, tenantId), tenantId, id, draft, undefined);
    const customer = registerCustomer(tenantId, id, details, this.now());
    await this.repo.insert(em, customer);
    await this.record(em, customer, "CUSTOMER_CREATED", actor, { changed: [] });
    return customer;
  }

  async get(em: EntityManager, tenantId: string, id: string): Promise<Customer> {
    const customer = await this.repo.findById(em, tenantId, id);
    if (customer === null) throw notFound("CUSTOMER_NOT_FOUND", `customer ${id} not found`);
    return customer;
  }

  /** A customer outside any transaction, in one round trip when possible (GetCustomer). */
  async read(tenantId: string, id: string, transact: Transact, deadline?: number): Promise<Customer> {
    const fast = await this.repo.findByIdOneTrip(tenantId, id, deadline);
    const customer = fast === undefined ? await transact((em) => this.repo.findById(em, tenantId, id)) : fast;
    if (customer === null) throw notFound("CUSTOMER_NOT_FOUND", `customer ${id} not found`);
    return customer;
  }

  /** What the customer still needs before (currently) and after (eventually) activation: the
   * country rules plus the tenant's required fields, evaluated on every read (no stored state,
   * so a changed tenant setting shows on the next read). Pass the transaction's em inside one. */
  async requirements(c: Customer, em?: EntityManager): Promise<Requirements> {
    return (await this.requirementsOf(c.tenantId, em))(c);
  }

  /** `requirements` for any number of one tenant's customers, its settings read once (a
   * ListCustomers page: one awaited settings lookup per page instead of one per customer). */
  async requirementsOf(tenantId: string, em?: EntityManager, options?: { eventually?: boolean }): Promise<(c: Customer) => Requirements> {
    const settings = (await this.tenants.profile(tenantId, em)).settings;
    const now = this.now();
    return (c) => evaluateRequirements(c, settings.requiredFields ?? [], now, options);
  }

  list(em: EntityManager, tenantId: string, filter: CustomerFilter, limit: number, after?: CustomerCursor): Promise<Customer[]> {
    return this.repo.list(em, tenantId, filter, limit, after);
  }

  /** `list` outside any transaction, in one round trip when possible (ListCustomers). */
  async listRead(
    tenantId: string,
    filter: CustomerFilter,
    limit: number,
    after: CustomerCursor | undefined,
    transact: Transact,
    deadline?: number,
  ): Promise<Customer[]> {
    return (await this.repo.listOneTrip(tenantId, filter, limit, after, deadline)) ?? transact((em) => this.repo.list(em, tenantId, filter, limit, after));
  }

  /** `desired` turns the current customer into the requested details (field-mask merge). */
  async update(
    em: EntityManager,
    tenantId: string,
    id: string,
    etag: string,
    desired: (current: Customer) => DetailsDraft,
    actor: Actor,
  ): Promise<Customer> {
    const current = await this.get(em, tenantId, id);
    checkEtag(current, etag);
    // Closed (and erased) customers are refused before the request is merged and validated.
    if (current.status === "closed") throw closedError(current);
    const details = this.resolve(await this.keys.forTenant(em, tenantId), tenantId, id, desired(current), current);
    if (details.countryCode !== current.countryCode) {
      checkTenantScope((await this.tenants.profile(tenantId, em)).settings, current.type, details.countryCode);
    }
    const next = updateCustomer(current, details, this.now());
    const changed = changedFields(current, next);
    if (changed.length === 0) return current; // nothing to write, no event, same etag
    await this.save(em, current, next);
    await this.record(em, next, "CUSTOMER_UPDATED", actor, { changed });
    return next;
  }

  /** `erase` (close only): also erase the personal data, in the same transaction. */
  async transition(em: EntityManager, tenantId: string, id: string, etag: string, t: Transition, actor: Actor, erase = false): Promise<Customer> {
    const current = await this.get(em, tenantId, id);
    checkEtag(current, etag);
    const due = t.action === "activate" ? (await this.requirements(current, em)).currentlyDue : [];
    const next = transition(current, t, this.now(), due.map((r) => ({ type: r.reason, subject: r.field, description: r.description })));
    await this.save(em, current, next);
    await this.record(em, next, EVENT_TYPES[t.action], actor, { changed: ["status"], reason: next.statusReason, note: t.note });
    return erase ? this.eraseLoaded(em, next, actor) : next;
  }

  /** Right to erasure for a closed customer (see erasePersonalData for what is kept). */
  async erase(em: EntityManager, tenantId: string, id: string, etag: string, actor: Actor): Promise<Customer> {
    const current = await this.get(em, tenantId, id);
    checkEtag(current, etag);
    return this.eraseLoaded(em, current, actor);
  }

  private async eraseLoaded(em: EntityManager, current: Customer, actor: Actor): Promise<Customer> {
    const next = erasePersonalData(current, this.now());
    if (next === current) return current; // already erased
    await this.save(em, current, next);
    const where = { tenantId: current.tenantId, customerId: current.id };
    // Notes are free text and may hold personal data; stored responses (idempotency) show it.
    // The events this transaction recorded so far (the CUSTOMER_CLOSED of close-and-erase) first.
    await flushDeferred(em);
    await em.execute("update customer_events set note = '' where tenant_id = ? and customer_id = ? and note <> ''", [where.tenantId, where.customerId], "run");
    await em.nativeDelete(IdempotencyEntity, { tenantId: current.tenantId, resourceId: current.id });
    await this.record(em, next, "CUSTOMER_ERASED", actor, { changed: [...ERASED_FIELDS] });
    return next;
  }

  /** The blind index a ListCustomers identifier filter looks for; INVALID_ARGUMENT for an unknown type. */
  async identifierIndex(tenantId: string, type: string, value: string, transact: Transact): Promise<string> {
    const kind = identifierKind(type);
    if (kind === undefined) {
      throw invalidArgument([{ field: "identifier.type", ruleId: "identifier.type_known", message: "is not a known identifier type" }]);
    }
    const cipher = this.keys.cached(tenantId) ?? (await transact((em) => this.keys.forTenant(em, tenantId)));
    return cipher.blindIndex(`${type}:${kind.normalise(value)}`);
  }

  /**
   * A verified code for `destination`: sets the contact's flag and time, writes the event.
   * `loaded`: the customer as this transaction read it before the code was checked. By the time
   * the code is spent, another request may have changed the customer: then it is read again and
   * the flag set on what it is now (at most MARK_VERIFIED_ATTEMPTS times), so that an unrelated
   * update does not cost the caller a spent code; a changed destination is still refused.
   */
  async markVerified(em: EntityManager, loaded: Customer, channel: "email" | "phone", destination: string, actor: Actor): Promise<Customer> {
    let current = loaded;
    for (let attempt = 1; ; attempt++) {
      const next = markContactVerified(current, channel, destination, this.now());
      if (await this.repo.update(em, next, current.version)) {
        await this.record(em, next, channel === "email" ? "EMAIL_VERIFIED" : "PHONE_VERIFIED", actor, {
          changed: [channel === "email" ? "email_verified" : "phone_verified"],
        });
        return next;
      }
      if (attempt === MARK_VERIFIED_ATTEMPTS) throw concurrentModification();
      current = await this.get(em, loaded.tenantId, loaded.id);
    }
  }

  link(em: EntityManager, tenantId: string, id: string, etag: string, kind: LinkKind, externalId: string, actor: Actor) {
    return this.changeLinks(em, tenantId, id, etag, actor, "CUSTOMER_LINKED", kind, externalId, addLink);
  }

  unlink(em: EntityManager, tenantId: string, id: string, etag: string, kind: LinkKind, externalId: string, actor: Actor) {
    return this.changeLinks(em, tenantId, id, etag, actor, "CUSTOMER_UNLINKED", kind, externalId, removeLink);
  }

  private async changeLinks(
    em: EntityManager,
    tenantId: string,
    id: string,
    etag: string,
    actor: Actor,
    eventType: string,
    kind: LinkKind,
    externalId: string,
    change: (c: Customer, kind: LinkKind, externalId: string, now: Date) => Customer,
  ): Promise<Customer> {
    const current = await this.get(em, tenantId, id);
    checkEtag(current, etag);
    const next = change(current, kind, externalId, this.now());
    await this.save(em, current, next);
    await this.record(em, next, eventType, actor, { changed: ["links"], details: { link: { kind, externalId } } });
    return next;
  }

  /**
   * Turns a unique-index violation from a create or update into ALREADY_EXISTS naming the field
   * and the customer that holds the value; rethrows anything else. Called after the failed
   * transaction rolled back, so it reads on a fresh connection.
   */
  async explainConflict(
    err: unknown,
    transact: Transact,
    tenantId: string,
    wanted: Pick<CustomerDetails, "email" | "phoneNumber" | "externalId">,
    /** false: say which field is taken but not by whom (a session token's caller). */
    nameHolder = true,
  ): Promise<never> {
    const constraint = (err as { constraint?: unknown }).constraint;
    const field = err instanceof UniqueConstraintViolationException && typeof constraint === "string" ? UNIQUE_CONSTRAINTS[constraint] : undefined;
    if (field === undefined) throw err;
    const value = field === "email" ? wanted.email.trim().toLowerCase() : field === "phone_number" ? wanted.phoneNumber : wanted.externalId;
    const holder = value && nameHolder ? await transact((em) => this.repo.findLiveBy(em, tenantId, field, value)) : null;
    throw new AppError("ALREADY_EXISTS", `another customer of this tenant already has this ${field.replace("_", " ")}`, {
      reason: CONFLICT_REASONS[field],
      metadata: holder ? { customer_id: holder, field } : { field },
    });
  }

  /** Writes `next` with the commit, if the customer is still at `current`'s version when it
   * runs; otherwise the transaction fails with CONCURRENT_MODIFICATION and writes nothing. */
  private save(em: EntityManager, current: Customer, next: Customer): Promise<void> {
    return this.repo.updateAtCommit(em, next, current.version, concurrentModification);
  }

  private async record(
    em: EntityManager,
    c: Customer,
    type: string,
    actor: Actor,
    extra: { changed: string[]; reason?: string | null; note?: string; details?: Record<string, unknown> },
  ): Promise<void> {
    this.events.append(em, {
      tenantId: c.tenantId,
      customerId: c.id,
      type,
      actor: actor.id,
      requestId: actor.requestId,
      reason: extra.reason ?? null,
      note: extra.note ?? "",
      changedFields: extra.changed,
      details: extra.details ?? {},
      time: c.updateTime,
    });
  }

  /** Seals plain identifiers and settles representative ids against the current customer. */
  private resolve(cipher: TenantCipher, tenantId: string, customerId: string, draft: DetailsDraft, current: Customer | undefined): CustomerDetails {
    const violations: FieldViolation[] = [];
    const seal = (field: string, id: IdentifierDraft, stored: SealedIdentifier | null | undefined): SealedIdentifier | null => {
      if (id === null || "sealed" in id) return id;
      const bad = identifierViolations(field as "individual.national_id" | "business.tax_id", id.type, id.value);
      if (bad.length > 0) {
        violations.push(...bad);
        return null;
      }
      const aad = `${tenantId}/${customerId}/${field}`;
      const index = cipher.blindIndex(`${id.type}:${identifierKind(id.type)!.normalise(id.value)}`);
      // The same value sent again is no change: keep the stored ciphertext (no new etag/event).
      if (stored && stored.type === id.type && cipher.open(stored.sealed, aad) === id.value) return stored.index ? stored : { ...stored, index };
      return { type: id.type, last4: last4(id.value), sealed: cipher.seal(id.value, aad), index };
    };
    const cp = current?.profile;
    const p = draft.profile;
    let profile: CustomerDetails["profile"];
    if (p.kind === "individual") {
      profile = { ...p, nationalId: seal("individual.national_id", p.nationalId, cp?.kind === "individual" ? cp.nationalId : undefined) };
    } else {
      const known = new Map(
        (current?.profile.kind === "business" ? current.profile.representatives : []).map((r) => [r.id, r]),
      );
      const representatives: Representative[] = p.representatives.map((r, i) => {
        // On create every id is new (Representative.id is output only and ignored on input).
        if (current === undefined) return { ...r, id: randomUUID() };
        if (r.id !== "" && !known.has(r.id)) {
          violations.push({
            field: `customer.business.representatives.${i}.id`,
            ruleId: "representative.id_known",
            message: "is not one of this customer's representatives (leave it empty to add a new one)",
          });
        }
        return { ...r, id: r.id === "" ? randomUUID() : r.id };
      });
      profile = { ...p, taxId: seal("business.tax_id", p.taxId, cp?.kind === "business" ? cp.taxId : undefined), representatives };
    }
    const details: CustomerDetails = { ...draft, profile };
    // Every rule at once: the domain's (dates, phone, ownership) and the country's.
    const now = this.now();
    violations.push(...checkDetails(details, now), ...countryViolations(details, now));
    if (violations.length > 0) throw invalidArgument(violations);
    return details;
  }
}
