// protobuf-es's create(), compiled per message type. create() walks the descriptor's members for
// every message it builds (zero values, then the initializer field by field through its
// reflection helpers); a GetCustomer reply builds nine messages that way and a ListCustomers
// page 450, about a tenth of the page's CPU in a profile (docs/performance.md). createMessage
// returns the same message — the same own properties and values, nested initializers turned
// into messages, messages passed in kept as they are — from code generated once per type: an
// object literal with the zero values, then one plain property read per member.
//
// Types whose messages need protobuf-es's prototype chain (proto2, editions with explicit
// presence on scalars), hold wrapper or Struct types (which create() boxes and unboxes) or bytes
// (which it also takes as number arrays) are left to create() itself; test/unit/proto-create.test.ts compares the two on random
// initializers of every message type the services use.
import { create, protoInt64, ScalarType, type DescField, type DescMessage, type DescOneof, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { IMPLICIT, UNBOXED_TYPES } from "./proto-plan.js";

/** The editions proto2 / proto3. */
const EDITION_PROTO2 = 998;
const EDITION_PROTO3 = 999;

type Creator = (init: unknown) => unknown;
const creators = new Map<DescMessage, Creator | null>();

function needsPrototypeChain(desc: DescMessage): boolean {
  if (desc.file.edition === EDITION_PROTO3) return false;
  if (desc.file.edition === EDITION_PROTO2) return true;
  return desc.fields.some((f) => f.presence !== IMPLICIT && f.fieldKind !== "message" && f.oneof === undefined);
}

function plannable(desc: DescMessage, visiting: Set<DescMessage>): boolean {
  if (visiting.has(desc)) return true;
  visiting.add(desc);
  if (needsPrototypeChain(desc) || UNBOXED_TYPES.test(desc.typeName)) return false;
  for (const f of desc.fields) {
    // bytes (which create() also accepts as number arrays): none in our contracts, left to create()
    if (f.scalar === ScalarType.BYTES) return false;
    const m = f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message") || (f.fieldKind === "map" && f.mapKind === "message") ? f.message : undefined;
    if (m !== undefined && (UNBOXED_TYPES.test(m.typeName) || !plannable(m, visiting))) return false;
  }
  return true;
}

function isMessageOf(v: unknown, typeName: string): boolean {
  return v !== null && typeof v === "object" && (v as { $typeName?: unknown }).$typeName === typeName;
}

function isObject(v: unknown): boolean {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A nested message value, as create's toMessage: an initializer becomes a message (`make`
 * returns a message of its type as it is). */
function toMessage(make: Creator, v: unknown): unknown {
  return isObject(v) ? make(v) : v;
}

function convertValues(obj: Record<string, unknown>, fn: (v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = fn(v);
  return out;
}

const helpers = { isMessageOf, isObject, toMessage, convertValues, zero64: protoInt64.zero };

/** The zero value create() gives a member that is set on every new message. */
function zeroSource(member: DescField | DescOneof): string {
  if (member.kind === "oneof") return "{ case: undefined }";
  switch (member.fieldKind) {
    case "list":
      return "[]";
    case "map":
      return "{}";
    case "enum":
      return String(member.enum.values[0]!.number);
    case "scalar":
      switch (member.scalar) {
        case ScalarType.STRING:
          return '""';
        case ScalarType.BOOL:
          return "false";
        case ScalarType.INT64:
        case ScalarType.UINT64:
        case ScalarType.SFIXED64:
        case ScalarType.FIXED64:
        case ScalarType.SINT64:
          return member.longAsString ? '"0"' : "zero64";
        default:
          return "0";
      }
    default:
      throw new Error(`no zero value for ${member.toString()}`);
  }
}

/** An expression converting `v` for field `f` (create's toMessage / initList / initMap). */
function convertSource(f: DescField, sub: (d: DescMessage) => string): string {
  switch (f.fieldKind) {
    case "message":
      return `toMessage(${sub(f.message)}, v)`;
    case "list":
      return f.listKind === "message" ? `(Array.isArray(v) ? v.map((x) => toMessage(${sub(f.message)}, x)) : v)` : "v";
    case "map":
      return f.mapKind === "message" ? `(isObject(v) ? convertValues(v, (x) => toMessage(${sub(f.message)}, x)) : v)` : "v";
    default:
      return "v";
  }
}

function compile(desc: DescMessage): Creator | null {
  const known = creators.get(desc);
  if (known !== undefined) return known;
  if (!plannable(desc, new Set())) {
    creators.set(desc, null);
    return null;
  }
  const nested: Creator[] = [];
  const indexOf = new Map<DescMessage, number>();
  const sub = (d: DescMessage) => {
    let i = indexOf.get(d);
    if (i === undefined) indexOf.set(d, (i = nested.push(undefined as unknown as Creator) - 1));
    return `nested[${i}]`;
  };
  const zero: string[] = [`$typeName: ${JSON.stringify(desc.typeName)}`];
  const init: string[] = [];
  for (const member of desc.members) {
    const key = JSON.stringify(member.localName);
    if (member.kind === "oneof" || member.presence === IMPLICIT) zero.push(`${key}: ${zeroSource(member)}`);
    if (member.kind === "oneof") {
      const cases = member.fields.map((f) => `case ${JSON.stringify(f.localName)}: { const v = o.value; m[${key}] = { case: ${JSON.stringify(f.localName)}, value: ${convertSource(f, sub)} }; break; }`);
      init.push(`{ const o = init[${key}]; if (o != null) switch (o.case) { ${cases.join(" ")} } }`);
    } else {
      init.push(`{ const v = init[${key}]; if (v != null) m[${key}] = ${convertSource(member, sub)}; }`);
    }
  }
  const source = `"use strict";
const { ${Object.keys(helpers).join(", ")} } = helpers;
return function make(init) {
  if (isMessageOf(init, ${JSON.stringify(desc.typeName)})) return init;
  const m = { ${zero.join(", ")} };
  if (init == null) return m;
  ${init.join("\n  ")}
  return m;
};`;
  const creator = new Function("helpers", "nested", source)(helpers, nested) as Creator;
  creators.set(desc, creator); // before the nested types: a message type may contain itself
  for (const [d, i] of indexOf) nested[i] = compile(d) ?? ((v: unknown) => create(d, v as never));
  return creator;
}

/** create(schema, init): the same message, built by code compiled for the type. */
export function createMessage<D extends DescMessage>(schema: D, init?: MessageInitShape<D>): MessageShape<D> {
  const make = compile(schema);
  return (make === null ? create(schema, init) : make(init)) as MessageShape<D>;
}
