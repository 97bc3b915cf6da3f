// createMessage (src/server/proto-create.ts) against protobuf-es's create: the same message for
// random initializers of every message type our three services send or receive, messages passed
// in kept as they are, and create() itself for the types it does not compile.
import { create, isMessage, type DescMessage } from "@bufbuild/protobuf";
import { StructSchema, TimestampSchema, timestampFromDate, FloatValueSchema, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustomerSchema, CustomerStatus } from "../../gen/finhub/customer/v1/customer_pb.js";
import { GetCustomerResponseSchema } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { createMessage } from "../../src/server/proto-create.js";
import { messageArb, reachable } from "../support/proto-arbitrary.js";

describe("createMessage (server/proto-create.ts)", () => {
  const types = reachable();

  it.each(types.map((t) => [t.typeName, t] as const))("%s: the same message as create() on random initializers", (_name, desc: DescMessage) => {
    fc.assert(
      fc.property(messageArb(desc, 0), (init) => {
        expect(createMessage(desc, init as never)).toStrictEqual(create(desc, init as never));
      }),
      { numRuns: desc.typeName.endsWith(".Customer") || desc.typeName.endsWith("Response") ? 200 : 40 },
    );
  });

  it("gives the zero message without an initializer, a fresh one each time", () => {
    for (const desc of types) expect(createMessage(desc)).toStrictEqual(create(desc));
    const a = createMessage(CustomerSchema);
    const b = createMessage(CustomerSchema);
    expect(a).not.toBe(b);
    expect(a.allowedTransitions).not.toBe(b.allowedTransitions);
    expect(a.metadata).not.toBe(b.metadata);
  });

  it("keeps messages passed in (the message itself, or a nested one), as create() does", () => {
    const customer = create(CustomerSchema, { id: "c1", status: CustomerStatus.ACTIVE });
    expect(createMessage(CustomerSchema, customer)).toBe(customer);
    const ts = timestampFromDate(new Date("2026-12-07T02:00:00Z"));
    const built = createMessage(CustomerSchema, { id: "c2", createTime: ts, profile: { case: "individual", value: { givenName: "Ada" } } });
    expect(built.createTime).toBe(ts);
    expect(isMessage(built.profile.value, undefined)).toBe(true);
    const reply = createMessage(GetCustomerResponseSchema, { customer });
    expect(reply.customer).toBe(customer);
    expect(reply).toStrictEqual(create(GetCustomerResponseSchema, { customer }));
  });

  it("leaves types it does not compile to create() (Struct, wrappers), with the same result", () => {
    const init = { fields: { a: { kind: { case: "stringValue" as const, value: "x" } } } };
    expect(createMessage(StructSchema, init)).toStrictEqual(create(StructSchema, init));
    expect(createMessage(FloatValueSchema, { value: 0.5 })).toStrictEqual(create(FloatValueSchema, { value: 0.5 }));
    expect(createMessage(TimestampSchema, { seconds: 5n })).toStrictEqual(create(TimestampSchema, { seconds: 5n }));
    expect(createMessage(FieldMaskSchema, { paths: ["a"] })).toStrictEqual(create(FieldMaskSchema, { paths: ["a"] }));
  });
});
