// Random protobuf-es messages for property tests: every message type our three services send
// or receive, and a fast-check arbitrary of initializers for any of them (strings with lone
// surrogates, full 32- and 64-bit ranges, unknown enum numbers, nested messages, oneofs, lists,
// maps), used to compare our compiled encoder and creator with protobuf-es itself.
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import fc from "fast-check";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { VerificationService } from "../../gen/finhub/customer/v1/verification_service_pb.js";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";

/** Every message type reachable from the services' requests and responses. */
export function reachable(): DescMessage[] {
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

export function messageArb(desc: DescMessage, depth: number): fc.Arbitrary<Record<string, unknown>> {
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

