// The customer lifecycle: the table in src/customers/lifecycle.ts and the domain `transition`
// (src/customers/customer.ts) that applies it. Table-driven for the exact table, then a
// fast-check property over arbitrary action sequences from a new (PENDING) customer.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.js";
import {
  allowedTransitions as allowedFromCustomer,
  transition,
  type Customer,
  type CustomerStatus,
  type StatusReason,
} from "../../src/customers/customer.js";
import { TRANSITIONS, allowedTransitions, nextStatus, type LifecycleAction } from "../../src/customers/lifecycle.js";

const STATUSES: readonly CustomerStatus[] = ["pending", "active", "suspended", "closed"];
const ACTIONS: readonly LifecycleAction[] = ["activate", "suspend", "close"];
const REASONS: readonly StatusReason[] = [
  "onboarding_completed",
  "customer_request",
  "fraud",
  "compliance_review",
  "resolved",
  "duplicate",
  "inactivity",
  "deceased_or_dissolved",
  "other",
];

const T0 = new Date("2026-01-02T03:04:05.678Z");

/** A minimal valid new customer, built by hand (no registerCustomer, so the rule under test is
 * the only code involved). */
function newCustomer(flags: { emailVerified: boolean; phoneVerified: boolean; phoneNumber: string | null }): Customer {
  return {
    tenantId: "11111111-1111-4111-8111-111111111111",
    id: "22222222-2222-4222-8222-222222222222",
    type: "individual",
    status: "pending",
    eraseTime: null,
    profile: {
      kind: "individual",
      givenName: "Lise",
      middleName: "",
      familyName: "Meitner",
      dateOfBirth: { year: 1978, month: 11, day: 7 },
      nationality: "AT",
      taxResidencyCountry: "",
      nationalId: null,
      occupation: "",
    },
    email: "lise@example.com",
    emailVerified: flags.emailVerified,
    emailVerifyTime: flags.emailVerified ? T0 : null,
    phoneNumber: flags.phoneNumber,
    phoneVerified: flags.phoneVerified,
    phoneVerifyTime: flags.phoneVerified ? T0 : null,
    countryCode: "AT",
    address: null,
    externalId: null,
    metadata: {},
    links: [],
    statusReason: null,
    statusNote: "",
    statusTime: T0,
    version: 1,
    createTime: T0,
    updateTime: T0,
  };
}

/** Freezes an object graph so that any in-place mutation by the code under test throws. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Statuses the table reaches from PENDING (including PENDING itself). */
function reachableFrom(start: CustomerStatus): Set<CustomerStatus> {
  const seen = new Set<CustomerStatus>([start]);
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const to of Object.values(TRANSITIONS[queue[i]!])) {
      if (to !== undefined && !seen.has(to)) {
        seen.add(to);
        queue.push(to);
      }
    }
  }
  return seen;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("the lifecycle table", () => {
  const expected: Record<CustomerStatus, Partial<Record<LifecycleAction, CustomerStatus>>> = {
    pending: { activate: "active", close: "closed" },
    active: { suspend: "suspended", close: "closed" },
    suspended: { activate: "active", close: "closed" },
    closed: {},
  };

  it("is exactly PENDING→{ACTIVE,CLOSED}, ACTIVE→{SUSPENDED,CLOSED}, SUSPENDED→{ACTIVE,CLOSED}, CLOSED→{}", () => {
    expect(TRANSITIONS).toEqual(expected);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
  });

  it.each(STATUSES.flatMap((s) => ACTIONS.map((a) => [s, a] as const)))("nextStatus(%s, %s) follows the table", (s, a) => {
    expect(nextStatus(s, a)).toBe(expected[s][a]);
  });

  it.each([
    ["pending", ["active", "closed"]],
    ["active", ["suspended", "closed"]],
    ["suspended", ["active", "closed"]],
    ["closed", []],
  ] as const)("allowedTransitions(%s) = %j, in the stable order", (s, targets) => {
    expect(allowedTransitions(s)).toEqual(targets);
    // The domain module re-exports the same function.
    expect(allowedFromCustomer(s)).toEqual(targets);
  });

  it("allowedTransitions(s) is the set of the table's targets from s, for every status", () => {
    for (const s of STATUSES) {
      const values = new Set(Object.values(TRANSITIONS[s]));
      expect(new Set(allowedTransitions(s))).toEqual(values);
      expect(allowedTransitions(s)).toHaveLength(values.size);
    }
  });

  it("CLOSED is terminal and reachable from every other status; every status is reachable from PENDING", () => {
    expect(Object.keys(TRANSITIONS.closed)).toEqual([]);
    for (const s of STATUSES) {
      if (s !== "closed") expect(nextStatus(s, "close")).toBe("closed");
    }
    expect(reachableFrom("pending")).toEqual(new Set(STATUSES));
    expect(reachableFrom("closed")).toEqual(new Set(["closed"]));
  });

  it("no transition leads back to PENDING", () => {
    for (const s of STATUSES) expect(Object.values(TRANSITIONS[s])).not.toContain("pending");
  });
});

describe("transition: specific cases", () => {
  it("activation with unverified contacts lists each unmet precondition", () => {
    const c = newCustomer({ emailVerified: false, phoneVerified: false, phoneNumber: null });
    const err = thrown(() => transition(c, { action: "activate", reason: null, note: "" }, T0));
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    expect({ code: e.code, reason: e.reason }).toEqual({ code: "FAILED_PRECONDITION", reason: "ACTIVATION_REQUIREMENTS_NOT_MET" });
    expect(e.preconditions.map((p) => [p.type, p.subject])).toEqual([
      ["EMAIL_NOT_VERIFIED", "email"],
      ["PHONE_NOT_VERIFIED", "phone_number"],
    ]);
  });

  it("a disallowed action names the status and action in ErrorInfo metadata", () => {
    const c = newCustomer({ emailVerified: true, phoneVerified: true, phoneNumber: "+447911123456" });
    const e = thrown(() => transition(c, { action: "suspend", reason: "fraud", note: "" }, T0)) as AppError;
    expect(e).toBeInstanceOf(AppError);
    expect({ code: e.code, reason: e.reason, metadata: e.metadata }).toEqual({
      code: "FAILED_PRECONDITION",
      reason: "TRANSITION_NOT_ALLOWED",
      metadata: { status: "PENDING", action: "SUSPEND" },
    });
  });

  it("default reasons: ONBOARDING_COMPLETED from PENDING, RESOLVED from SUSPENDED; status_time and note are set", () => {
    const t1 = new Date(T0.getTime() + 1_000);
    const t2 = new Date(T0.getTime() + 2_000);
    const t3 = new Date(T0.getTime() + 3_000);
    const c = newCustomer({ emailVerified: true, phoneVerified: true, phoneNumber: "+447911123456" });
    const active = transition(c, { action: "activate", reason: null, note: "" }, t1);
    expect({ status: active.status, reason: active.statusReason, time: active.statusTime, v: active.version }).toEqual({
      status: "active",
      reason: "onboarding_completed",
      time: t1,
      v: 2,
    });
    const suspended = transition(active, { action: "suspend", reason: "fraud", note: "case 42" }, t2);
    expect({ status: suspended.status, reason: suspended.statusReason, note: suspended.statusNote }).toEqual({
      status: "suspended",
      reason: "fraud",
      note: "case 42",
    });
    const back = transition(suspended, { action: "activate", reason: null, note: "" }, t3);
    expect({ status: back.status, reason: back.statusReason, note: back.statusNote, update: back.updateTime }).toEqual({
      status: "active",
      reason: "resolved",
      note: "",
      update: t3,
    });
  });
});

describe("transition: property over arbitrary action sequences", () => {
  const reachable = reachableFrom("pending");

  const scenario = fc.record({
    emailVerified: fc.boolean(),
    phoneVerified: fc.boolean(),
    phoneNumber: fc.constantFrom<string | null>(null, "+447911123456", "+14155550123"),
    steps: fc.array(
      fc.record({
        action: fc.constantFrom(...ACTIONS),
        reason: fc.option(fc.constantFrom(...REASONS), { nil: null }),
        note: fc.constantFrom("", "ticket 7", "reviewed"),
      }),
      { maxLength: 30 },
    ),
  });

  it("each step either follows the table (version +1) or throws FAILED_PRECONDITION leaving the customer unchanged", () => {
    fc.assert(
      fc.property(scenario, ({ emailVerified, phoneVerified, phoneNumber, steps }) => {
        let c = deepFreeze(newCustomer({ emailVerified, phoneVerified, phoneNumber }));
        let clock = T0.getTime();
        let closedSeen = false;
        for (const step of steps) {
          const before = structuredClone(c);
          const now = new Date((clock += 1_000));
          const target = TRANSITIONS[c.status][step.action];
          let next: Customer | undefined;
          let error: unknown;
          try {
            next = transition(c, step, now);
          } catch (err) {
            error = err;
          }

          if (closedSeen) {
            // CLOSED is terminal: every action is refused as a transition.
            expect(error).toBeInstanceOf(AppError);
            expect((error as AppError).reason).toBe("TRANSITION_NOT_ALLOWED");
          }

          if (error !== undefined) {
            expect(error).toBeInstanceOf(AppError);
            const e = error as AppError;
            expect(e.code).toBe("FAILED_PRECONDITION");
            if (target === undefined) {
              expect(e.reason).toBe("TRANSITION_NOT_ALLOWED");
            } else {
              // The table allows it: only activation may still be refused, for unverified contacts.
              expect(step.action).toBe("activate");
              expect(emailVerified && phoneVerified).toBe(false);
              expect(e.reason).toBe("ACTIVATION_REQUIREMENTS_NOT_MET");
              expect(e.preconditions.map((p) => p.type).sort()).toEqual(
                [...(emailVerified ? [] : ["EMAIL_NOT_VERIFIED"]), ...(phoneVerified ? [] : ["PHONE_NOT_VERIFIED"])].sort(),
              );
            }
            expect(c).toEqual(before);
            continue;
          }

          // Success: exactly the table's target, and activation only with both contacts verified.
          expect(target).toBeDefined();
          if (step.action === "activate") expect(emailVerified && phoneVerified).toBe(true);
          const n = next!;
          expect(n.status).toBe(target);
          expect(reachable.has(n.status)).toBe(true);
          expect(n.version).toBe(c.version + 1);
          expect(n.statusTime).toEqual(now);
          expect(n.updateTime).toEqual(now);
          expect(n.statusNote).toBe(step.note);
          const defaultReason = step.action === "activate" ? (c.status === "suspended" ? "resolved" : "onboarding_completed") : null;
          expect(n.statusReason).toBe(step.reason ?? defaultReason);
          // Nothing but the status fields changes.
          const { status: _s, statusReason: _r, statusNote: _n, statusTime: _t, version: _v, updateTime: _u, ...rest } = n;
          const { status: _s0, statusReason: _r0, statusNote: _n0, statusTime: _t0, version: _v0, updateTime: _u0, ...rest0 } = before;
          expect(rest).toEqual(rest0);
          // The input was not changed in place (it is frozen; this also checks the snapshot).
          expect(c).toEqual(before);

          c = deepFreeze(n);
          if (c.status === "closed") closedSeen = true;
        }
        expect(reachable.has(c.status)).toBe(true);
        expect(STATUSES).toContain(c.status);
      }),
      { numRuns: 500 },
    );
  });

  it("the version counts the successful steps exactly", () => {
    fc.assert(
      fc.property(scenario, ({ emailVerified, phoneVerified, phoneNumber, steps }) => {
        let c = newCustomer({ emailVerified, phoneVerified, phoneNumber });
        let successes = 0;
        for (const step of steps) {
          try {
            c = transition(c, step, T0);
            successes++;
          } catch {
            // refused: counted by the other property
          }
        }
        expect(c.version).toBe(1 + successes);
      }),
      { numRuns: 300 },
    );
  });

  it("from CLOSED, every action throws TRANSITION_NOT_ALLOWED whatever the flags", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.constantFrom(...ACTIONS), (emailVerified, phoneVerified, action) => {
        const c = deepFreeze({ ...newCustomer({ emailVerified, phoneVerified, phoneNumber: "+447911123456" }), status: "closed" as const });
        const e = thrown(() => transition(c, { action, reason: "other", note: "x" }, T0)) as AppError;
        expect(e).toBeInstanceOf(AppError);
        expect({ code: e.code, reason: e.reason }).toEqual({ code: "FAILED_PRECONDITION", reason: "TRANSITION_NOT_ALLOWED" });
      }),
    );
  });
});
