// encodeJson (src/server/proto-json.ts) against protobuf-es's toJsonString: the same string for
// random messages of every message type our three services send or receive, and toJsonString's
// own result or error wherever encodeJson hands over (well-known types with a JSON form of their
// own, values of the wrong type, timestamps out of range).
import { create, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { AnySchema, DurationSchema, FieldMaskSchema, StringValueSchema, StructSchema, TimestampSchema, ValueSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustomerSchema, CustomerStatus, CustomerType } from "../../gen/finhub/customer/v1/customer_pb.js";
import { GetCustomerResponseSchema, ListCustomersResponseSchema } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { encodeJson, encodeJsonCompiled } from "../../src/server/proto-json.js";
import { messageArb, reachable } from "../support/proto-arbitrary.js";

const SPAN = 253_402_300_799n + 62_135_596_800n; // 0001-01-01 .. 9999-12-31T23:59:59, in seconds

const DURATION_MAX = 315_576_000_000n;

/** Moves every Timestamp and Duration of `m` into JSON's range (random seconds mostly fall
 * outside it): kept random, only folded into the range, nanos into range and sign. */
function foldTimes(m: unknown): void {
  if (m === null || typeof m !== "object") return;
  if (Array.isArray(m)) return m.forEach(foldTimes);
  const o = m as Record<string, unknown>;
  const s = o.seconds as bigint;
  if (o.$typeName === "google.protobuf.Timestamp") {
    o.seconds = (((s % SPAN) + SPAN) % SPAN) - 62_135_596_800n;
    o.nanos = Math.abs(o.nanos as number) % 1_000_000_000;
    return;
  }
  if (o.$typeName === "google.protobuf.Duration") {
    o.seconds = s % (DURATION_MAX + 1n);
    const nanos = Math.abs(o.nanos as number) % 1_000_000_000;
    o.nanos = (o.seconds as bigint) < 0n || ((o.seconds as bigint) === 0n && (o.nanos as number) < 0) ? -nanos : nanos;
    return;
  }
  for (const v of Object.values(o)) foldTimes(v);
}

/** Whether `desc` reaches a well-known type encodeJson hands to toJsonString (FieldMask, in the
 * update requests; Any, Struct, Value, ListValue and wrappers nowhere). */
function handedOver(desc: DescMessage, seen = new Set<DescMessage>()): boolean {
  if (/^google\.protobuf\.(Any|FieldMask|Struct|Value|ListValue|\w+Value)$/.test(desc.typeName)) return true;
  if (seen.has(desc)) return false;
  seen.add(desc);
  return desc.fields.some((f) => f.message !== undefined && handedOver(f.message, seen));
}

/** toJsonString's outcome: its string, or its error's message. */
function outcome(f: () => string): string {
  try {
    return f();
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

describe("encodeJson (server/proto-json.ts)", () => {
  const types = reachable();

  it("reaches the replies it is for", () => {
    const names = types.map((t) => t.typeName);
    expect(names).toContain("finhub.customer.v1.Customer");
    expect(names).toContain("finhub.customer.v1.ListCustomersResponse");
    expect(names).toContain("finhub.tenant.v1.Tenant");
    expect(names).toContain("google.protobuf.Timestamp");
    expect(names).toContain("google.protobuf.Duration");
    expect(types.filter((t) => handedOver(t)).map((t) => t.typeName)).toEqual([
      "finhub.customer.v1.UpdateCustomerRequest",
      "google.protobuf.FieldMask",
      "finhub.tenant.v1.UpdateTenantRequest",
    ]);
  });

  it.each(types.map((t) => [t.typeName, t] as const))("%s: the same string as toJsonString on random messages, from the plan itself", (_name, desc: DescMessage) => {
    fc.assert(
      fc.property(messageArb(desc, 0), (init) => {
        const message = create(desc, init as never);
        foldTimes(message);
        if (handedOver(desc)) {
          // toJsonString decides (a random FieldMask path is often irreversible: its error).
          expect(encodeJsonCompiled(desc, message)).toBeUndefined();
          expect(outcome(() => encodeJson(desc, message))).toBe(outcome(() => toJsonString(desc, message)));
          return;
        }
        const expected = toJsonString(desc, message);
        expect(encodeJsonCompiled(desc, message)).toBe(expected);
        expect(encodeJson(desc, message)).toBe(expected);
      }),
      { numRuns: desc.typeName.endsWith(".Customer") || desc.typeName.endsWith("Response") ? 300 : 60 },
    );
  });

  it.each(types.map((t) => [t.typeName, t] as const))("%s: unfolded timestamps and durations (mostly out of range): toJsonString's result or error", (_name, desc: DescMessage) => {
    fc.assert(
      fc.property(messageArb(desc, 0), (init) => {
        const message = create(desc, init as never);
        expect(outcome(() => encodeJson(desc, message))).toBe(outcome(() => toJsonString(desc, message)));
      }),
      { numRuns: 40 },
    );
  });

  it("encodes a full customer reply, unicode, map key order and all, as toJsonString does", () => {
    const customer = create(CustomerSchema, {
      id: "7d7f0f52-8a3c-4a51-9f3e-2b1c0d9e8f7a",
      type: CustomerType.INDIVIDUAL,
      status: CustomerStatus.ACTIVE,
      email: "zoë@example.com",
      countryCode: "GB",
      profile: { case: "individual", value: { givenName: "Zoë", familyName: "O'Brien 😀 \"quoted\" \\ </script>", dateOfBirth: { year: 1990, month: 2, day: 3 } } },
      createTime: timestampFromDate(new Date("2026-12-06T10:00:00.123Z")),
      updateTime: { seconds: 1_765_000_000n, nanos: 123_456_000 },
      statusTime: { seconds: -1_000_000_000n, nanos: 1 },
      metadata: { b: "2", "2": "b", "10": "x", a: "\u2028\ud800", "": "" },
      allowedTransitions: [CustomerStatus.SUSPENDED, CustomerStatus.CLOSED, 99 as CustomerStatus],
      missingRequirements: ["email", "phone_number"],
    });
    const page = create(ListCustomersResponseSchema, { customers: [customer, create(CustomerSchema, {})], nextPageToken: "t".repeat(100) });
    const json = encodeJsonCompiled(ListCustomersResponseSchema, page);
    expect(json).toBe(toJsonString(ListCustomersResponseSchema, page));
    expect(json).toContain(`"updateTime":"2025-12-06T05:46:40.123456Z"`);
    expect(json).toContain(`"statusTime":"1938-04-24T22:13:20.000000001Z"`);
    expect(json).toContain(`"metadata":{"2":"b","10":"x","b":"2","a":`);
    expect(json).toContain(`"allowedTransitions":["CUSTOMER_STATUS_SUSPENDED","CUSTOMER_STATUS_CLOSED",99]`);
    expect(encodeJsonCompiled(GetCustomerResponseSchema, create(GetCustomerResponseSchema, {}))).toBe("{}");
  });

  it("timestamps: every day of 400 years of the calendar, and random instants of the whole range", () => {
    // 1600-03-01 .. 2000-02-29 covers every leap-year rule (a 400-year cycle of the Gregorian calendar).
    for (let s = -11_670_912_000n; s < 946_684_800n; s += 86_400n) {
      const t = create(TimestampSchema, { seconds: s + 86_399n });
      expect(encodeJsonCompiled(TimestampSchema, t)).toBe(toJsonString(TimestampSchema, t));
    }
    fc.assert(
      fc.property(fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }), fc.integer({ min: 0, max: 999_999_999 }), (seconds, nanos) => {
        const t = create(TimestampSchema, { seconds, nanos });
        expect(encodeJsonCompiled(TimestampSchema, t)).toBe(toJsonString(TimestampSchema, t));
      }),
      { numRuns: 2_000 },
    );
  });

  it("timestamps at the edges of JSON's range, and one second past each", () => {
    for (const [seconds, nanos] of [[-62_135_596_800n, 0], [253_402_300_799n, 999_999_999], [0n, 10_000_000], [0n, 0]] as const) {
      const t = create(TimestampSchema, { seconds, nanos });
      expect(encodeJsonCompiled(TimestampSchema, t)).toBe(toJsonString(TimestampSchema, t));
    }
    for (const t of [create(TimestampSchema, { seconds: -62_135_596_801n }), create(TimestampSchema, { seconds: 253_402_300_800n }), create(TimestampSchema, { nanos: -1 })]) {
      const c = create(CustomerSchema, { id: "a", createTime: t });
      expect(encodeJsonCompiled(CustomerSchema, c)).toBeUndefined();
      expect(() => encodeJson(CustomerSchema, c)).toThrow(/cannot encode message google\.protobuf\.Timestamp to JSON/);
    }
  });

  it("durations: nanosecond groups, signs, and the range", () => {
    for (const [seconds, nanos] of [[3n, 500_000_000], [0n, -1], [-2n, -123_456_000], [315_576_000_000n, 999_999_999], [0n, 0], [7n, 10]] as const) {
      const d = create(DurationSchema, { seconds, nanos });
      expect(encodeJsonCompiled(DurationSchema, d)).toBe(toJsonString(DurationSchema, d));
    }
    for (const [seconds, nanos] of [[315_576_000_001n, 0], [1n, -1], [-1n, 1]] as const) {
      const d = create(DurationSchema, { seconds, nanos });
      expect(encodeJsonCompiled(DurationSchema, d)).toBeUndefined();
      expect(outcome(() => encodeJson(DurationSchema, d))).toBe(outcome(() => toJsonString(DurationSchema, d)));
      expect(outcome(() => encodeJson(DurationSchema, d))).toMatch(/^error: cannot encode message google\.protobuf\.Duration to JSON/);
    }
  });

  it("hands well-known types with a JSON form of their own to toJsonString", () => {
    const cases: Array<[DescMessage, object]> = [
      [StructSchema, { fields: { a: { kind: { case: "numberValue", value: 1.5 } } } }],
      [ValueSchema, { kind: { case: "stringValue", value: "x" } }],
      [FieldMaskSchema, { paths: ["email", "phone_number"] }],
      [StringValueSchema, { value: "w" }],
      [AnySchema, {}],
    ];
    for (const [schema, init] of cases) {
      const m = create(schema, init as never);
      expect(encodeJsonCompiled(schema, m)).toBeUndefined();
      expect(encodeJson(schema, m)).toBe(toJsonString(schema, m));
    }
  });

  it("leaves values of the wrong type to toJsonString: its result, or its error", () => {
    const enumAsString = create(CustomerSchema, { id: "a" });
    (enumAsString as unknown as { status: unknown }).status = "1";
    expect(() => toJsonString(CustomerSchema, enumAsString)).toThrow(/expected number/);
    expect(() => encodeJson(CustomerSchema, enumAsString)).toThrow(/expected number/);
    const numberAsString = create(CustomerSchema, { id: "a" });
    (numberAsString as unknown as { email: unknown }).email = 5;
    expect(outcome(() => encodeJson(CustomerSchema, numberAsString))).toBe(outcome(() => toJsonString(CustomerSchema, numberAsString)));
    expect(outcome(() => encodeJson(CustomerSchema, numberAsString))).toMatch(/^error: cannot encode field finhub\.customer\.v1\.Customer\.email to JSON/);
    // A foreign message where a Customer belongs.
    const foreign = create(GetCustomerResponseSchema, {});
    (foreign as unknown as { customer: unknown }).customer = create(TimestampSchema, {});
    expect(encodeJsonCompiled(GetCustomerResponseSchema, foreign)).toBeUndefined();
    expect(outcome(() => encodeJson(GetCustomerResponseSchema, foreign))).toBe(outcome(() => toJsonString(GetCustomerResponseSchema, foreign)));
    // The next message encodes normally.
    const good = create(CustomerSchema, { id: "b", email: "b@example.com" });
    expect(encodeJsonCompiled(CustomerSchema, good)).toBe(toJsonString(CustomerSchema, good));
  });
});
