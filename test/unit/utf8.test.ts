import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, getTextEncoding } from "@bufbuild/protobuf/wire";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CustomerSchema, CustomerStatus, CustomerType } from "../../gen/finhub/customer/v1/customer_pb.js";
import { encodeUtf8, installFastUtf8 } from "../../src/server/utf8.js";

const reference = new TextEncoder();

describe("encodeUtf8 (protobuf-es string encoding, server/utf8.ts)", () => {
  it("equals TextEncoder byte for byte on any string, lone surrogates included", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 200 }), fc.string({ maxLength: 200 })), (s) => {
        expect(Buffer.from(encodeUtf8(s)).equals(Buffer.from(reference.encode(s)))).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });

  it("handles the edges: empty, the ASCII limit, a non-ASCII character at either end, lone surrogates, long strings", () => {
    for (const s of ["", "\x7f", "\x80", "é", "a".repeat(128), "a".repeat(129), `${"a".repeat(127)}é`, `é${"a".repeat(127)}`, "\ud800", "a\udc00b", "😀", "x".repeat(10_000)]) {
      expect(Array.from(encodeUtf8(s))).toEqual(Array.from(reference.encode(s)));
    }
  });

  it("once installed, protobuf-es uses it, and messages encode to the same bytes as with TextEncoder", () => {
    const message = create(CustomerSchema, {
      id: "7d7f0f52-8a3c-4a51-9f3e-2b1c0d9e8f7a",
      type: CustomerType.INDIVIDUAL,
      status: CustomerStatus.ACTIVE,
      email: "zoë@example.com",
      countryCode: "GB",
      createTime: timestampFromDate(new Date("2026-12-06T10:00:00Z")),
      metadata: { note: "Ünïcödé 😀", plain: "ascii" },
    });
    const before = toBinary(CustomerSchema, message);
    installFastUtf8();
    expect(getTextEncoding().encodeUtf8).toBe(encodeUtf8);
    expect(new BinaryWriter().string("é").finish()).toEqual(new Uint8Array([2, 0xc3, 0xa9]));
    expect(Buffer.from(toBinary(CustomerSchema, message)).equals(Buffer.from(before))).toBe(true);
  });
});
