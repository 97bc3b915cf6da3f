// encodeBinary (src/server/proto-binary.ts) against protobuf-es's toBinary: the same bytes for
// random messages of every message type our three services send or receive, and toBinary's own
// result or error wherever encodeBinary hands over (unsupported types, values toBinary converts
// or rejects).
import { create, fromBinary, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromDate, StructSchema, ValueSchema, FloatValueSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustomerSchema, CustomerStatus, CustomerType } from "../../gen/finhub/customer/v1/customer_pb.js";
import { CustomerService, GetCustomerResponseSchema, ListCustomersResponseSchema } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { VerificationService } from "../../gen/finhub/customer/v1/verification_service_pb.js";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { encodeBinary } from "../../src/server/proto-binary.js";

/** Every message type reachable from the services' requests and responses. */
function reachable(): DescMessage[] {
  const seen = new Map<string, DescMessage>();
  const visit = (d: DescMessage) => {
    if (seen.has(d.typeName)) return;
    seen.set(d.typeName, d);
    for (const f of d.fields) if (f.message) visit(f.message);
  };
  for (const s of [CustomerService, VerificationService, TenantService]) {
    for (const m of s.methods) {
      visit(m.input);
      visit(m.output);
    }
  }
  return [...seen.values()];
}

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const text = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: "binary", maxLength: 80 }), fc.constantFrom("", "é", "\ud800", "😀", "x".repeat(70)));

function scalarArb(f: DescField): fc.Arbitrary<unknown> {
  const enumDesc = f.enum;
  if (enumDesc !== undefined) return fc.oneof(fc.constantFrom(...enumDesc.values.map((v) => v.number)), fc.integer({ min: -5, max: 200 }));
  switch (f.scalar) {
    case 9: // STRING
      return text;
    case 12: // BYTES
      return fc.uint8Array({ maxLength: 20 });
    case 8: // BOOL
      return fc.boolean();
    case 5: // INT32
      return fc.oneof(fc.integer(), fc.integer({ min: -3, max: 300 }));
    case 13: // UINT32
      return fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 300 }));
    case 3: // INT64
      return fc.oneof(int64, fc.bigInt({ min: -3n, max: 2n ** 33n }));
    case 4: // UINT64
      return uint64;
    default:
      throw new Error(`no arbitrary for ${f.toString()}`);
  }
}

function messageArb(desc: DescMessage, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  const single = (f: DescField): fc.Arbitrary<unknown> =>
    f.message !== undefined ? (depth > 3 ? fc.constant(undefined) : messageArb(f.message, depth + 1)) : scalarArb(f);
  for (const f of desc.fields) {
    if (f.oneof !== undefined) continue;
    if (f.fieldKind === "list") parts[f.localName] = fc.array(single(f), { maxLength: depth > 3 ? 0 : 3 }).map((a) => a.filter((x) => x !== undefined));
    else if (f.fieldKind === "map") parts[f.localName] = fc.dictionary(text, scalarArb(f), { maxKeys: 3 });
    else parts[f.localName] = single(f);
  }
  for (const o of desc.oneofs) {
    parts[o.localName] = fc.oneof(
      fc.constant({ case: undefined }),
      ...o.fields.map((f) => single(f).map((value) => (value === undefined ? { case: undefined } : { case: f.localName, value }))),
    );
  }
  return fc.record(parts, { requiredKeys: [] });
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("encodeBinary (server/proto-binary.ts)", () => {
  const types = reachable();

  it("reaches the replies it is for", () => {
    const names = types.map((t) => t.typeName);
    expect(names).toContain("finhub.customer.v1.Customer");
    expect(names).toContain("finhub.customer.v1.ListCustomersResponse");
    expect(names).toContain("finhub.tenant.v1.Tenant");
    expect(names).toContain("google.protobuf.Timestamp");
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
