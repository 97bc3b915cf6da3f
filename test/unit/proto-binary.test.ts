// encodeBinary (src/server/proto-binary.ts) against protobuf-es's toBinary: the same bytes for
// random messages of every message type our three services send or receive, and toBinary's own
// result or error wherever encodeBinary hands over (unsupported types, values toBinary converts
// or rejects).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampFromDate, StructSchema, ValueSchema, FloatValueSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustomerSchema, CustomerStatus, CustomerType } from "../../gen/finhub/customer/v1/customer_pb.js";
import { GetCustomerResponseSchema, ListCustomersResponseSchema } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { encodeBinary } from "../../src/server/proto-binary.js";
import { messageArb, reachable } from "../support/proto-arbitrary.js";

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("encodeBinary (server/proto-binary.ts)", () => {
  // google.protobuf.Any for its bytes field: none of our own messages has one.
  const types = [...reachable(), AnySchema];

  it("reaches the replies it is for", () => {
    const names = types.map((t) => t.typeName);
    expect(names).toContain("finhub.customer.v1.Customer");
    expect(names).toContain("finhub.customer.v1.ListCustomersResponse");
    expect(names).toContain("finhub.tenant.v1.Tenant");
    expect(names).toContain("google.protobuf.Timestamp");
    expect(names).toContain("google.protobuf.Any");
  });

  it.each(types.map((t) => [t.typeName, t] as const))("%s: the same bytes as toBinary on random messages", (_name, desc) => {
    fc.assert(
      fc.property(messageArb(desc, 0), (init) => {
        const message = create(desc, init as never);
        const expected = toBinary(desc, message);
        const actual = encodeBinary(desc, message);
        expect(same(actual, expected)).toBe(true);
        expect(Buffer.isBuffer(actual)).toBe(true); // encoded by the plan, not handed to toBinary
      }),
      { numRuns: desc.typeName.endsWith(".Customer") || desc.typeName.endsWith("Response") ? 300 : 60 },
    );
  });

  it("encodes a full customer reply, unicode and all, as toBinary does", () => {
    const customer = create(CustomerSchema, {
      id: "7d7f0f52-8a3c-4a51-9f3e-2b1c0d9e8f7a",
      type: CustomerType.INDIVIDUAL,
      status: CustomerStatus.ACTIVE,
      email: "zoë@example.com",
      countryCode: "GB",
      profile: { case: "individual", value: { givenName: "Zoë", familyName: "O'Brien 😀", dateOfBirth: { year: 1990, month: 2, day: 3 } } },
      createTime: timestampFromDate(new Date("2026-12-06T10:00:00.123Z")),
      statusTime: timestampFromDate(new Date("1901-01-01T00:00:00Z")), // negative seconds: a 10-byte varint
      metadata: { note: "Ünïcödé \ud800", plain: "ascii", "": "" },
      allowedTransitions: [CustomerStatus.SUSPENDED, CustomerStatus.CLOSED],
      missingRequirements: ["email", "phone_number"],
    });
    const page = create(ListCustomersResponseSchema, { customers: [customer, customer], nextPageToken: "t".repeat(100) });
    expect(same(encodeBinary(ListCustomersResponseSchema, page), toBinary(ListCustomersResponseSchema, page))).toBe(true);
    expect(same(encodeBinary(GetCustomerResponseSchema, create(GetCustomerResponseSchema, {})), new Uint8Array(0))).toBe(true);
  });

  it("writes unknown fields last, as toBinary does", () => {
    const customer = create(CustomerSchema, { id: "a" });
    customer.$unknown = [
      { no: 999, wireType: 0, data: Uint8Array.of(5) },
      { no: 1000, wireType: 2, data: Uint8Array.of(2, 0x61, 0x62) },
    ];
    const bytes = encodeBinary(CustomerSchema, customer);
    expect(same(bytes, toBinary(CustomerSchema, customer))).toBe(true);
    expect(fromBinary(CustomerSchema, bytes).$unknown).toHaveLength(2);
  });

  it("hands types it does not plan for to toBinary (Struct, Value, wrappers)", () => {
    const struct = create(StructSchema, { fields: { a: { kind: { case: "numberValue", value: 1.5 } } } });
    expect(same(encodeBinary(StructSchema, struct), toBinary(StructSchema, struct))).toBe(true);
    const value = create(ValueSchema, { kind: { case: "stringValue", value: "x" } });
    expect(same(encodeBinary(ValueSchema, value), toBinary(ValueSchema, value))).toBe(true);
    const float = create(FloatValueSchema, { value: 0.25 });
    expect(same(encodeBinary(FloatValueSchema, float), toBinary(FloatValueSchema, float))).toBe(true);
    expect(Buffer.isBuffer(encodeBinary(FloatValueSchema, float))).toBe(false); // toBinary's own Uint8Array
  });

  it("leaves values toBinary converts or rejects to toBinary: its result, or its error", () => {
    // An int32 given as a numeric string: toBinary accepts it.
    const converted = create(CustomerSchema, { id: "a" });
    (converted as unknown as { type: unknown }).type = "1";
    expect(same(encodeBinary(CustomerSchema, converted), toBinary(CustomerSchema, converted))).toBe(true);
    // A fractional int32: toBinary refuses, and so does encodeBinary, with toBinary's words.
    const bad = create(CustomerSchema, { id: "a" });
    (bad as unknown as { status: unknown }).status = 1.5;
    expect(() => toBinary(CustomerSchema, bad)).toThrow(/invalid int32/);
    expect(() => encodeBinary(CustomerSchema, bad)).toThrow(/cannot encode field finhub\.customer\.v1\.Customer\.status to binary: invalid int32/);
    // After a refusal the next message encodes normally (no state left behind).
    const good = create(CustomerSchema, { id: "b", email: "b@example.com" });
    expect(same(encodeBinary(CustomerSchema, good), toBinary(CustomerSchema, good))).toBe(true);
  });
});
