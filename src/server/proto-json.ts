// The protobuf JSON encoding of our replies (the Connect fast path's JSON responses), compiled
// per message type. protobuf-es's toJsonString walks every message through its reflection API (a
// ReflectMessage per message, isSet/get per field, a switch per value): ≈ 12 µs for a
// GetCustomer reply in a micro-benchmark, and the largest protobuf share of a Connect JSON
// GetCustomer in the bench's CPU profile. encodeJson builds the same plain JSON value with code
// compiled once per type from its descriptor (new Function over the field list, as
// proto-binary.ts), then JSON.stringify's it: the same string as toJsonString(schema, message)
// with default options (test/unit/proto-json.test.ts compares them on random messages of every
// message type the services use).
//
// Covered: every scalar type, enums (by name; unknown numbers as numbers), messages, oneofs,
// lists, string-keyed maps, google.protobuf.Timestamp and Duration. A type that reaches another
// well-known type with a JSON form of its own (Any, FieldMask, Struct, Value,
// ListValue, wrappers, NullValue), a map with non-string keys, or a proto2 required field is
// handed to toJsonString at once; so is any message whose values the plan does not expect (a
// wrong type, an out-of-range timestamp, a foreign message): the result or the error is always
// toJsonString's.
import { ScalarType, toJsonString, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { IMPLICIT, LEGACY_REQUIRED, scalarSetSource } from "./proto-plan.js";

const TIMESTAMP = "google.protobuf.Timestamp";
const DURATION = "google.protobuf.Duration";

/** A value the plan does not handle: the whole message goes to toJsonString. */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported("handled by toJsonString");

type ToJson = (m: unknown) => unknown;
const compiled = new Map<DescMessage, ToJson | null>();

function supported(desc: DescMessage, visiting: Set<DescMessage>): boolean {
  if (desc.typeName === TIMESTAMP || desc.typeName === DURATION) return true;
  // Every other google.protobuf type with a JSON form of its own (Empty has none: a message).
  if (desc.typeName.startsWith("google.protobuf.") && desc.typeName !== "google.protobuf.Empty") return false;
  if (visiting.has(desc)) return true;
  visiting.add(desc);
  for (const f of desc.fields) {
    if (f.presence === LEGACY_REQUIRED) return false;
    if (f.fieldKind === "map" && f.mapKey !== ScalarType.STRING) return false;
    const e = f.enum;
    if (e !== undefined && e.typeName === "google.protobuf.NullValue") return false;
    const m = f.message;
    if (m !== undefined && !supported(m, visiting)) return false;
  }
  return true;
}

// ---- helpers the compiled code calls -----------------------------------------------------------

const MIN_MS = Date.parse("0001-01-01T00:00:00Z");
const MAX_MS = Date.parse("9999-12-31T23:59:59Z");

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * toJson's google.protobuf.Timestamp: RFC 3339 in UTC, nanoseconds in groups of 3 digits. The
 * calendar date comes from the day number (H. Hinnant's civil_from_days) rather than
 * `new Date(ms).toISOString().replace(...)`: 0.4 against 1.5 µs, and a reply has four or five.
 */
function timestamp(v: { $typeName?: unknown; seconds: unknown; nanos: unknown }): string {
  if (v.$typeName !== TIMESTAMP) throw UNSUPPORTED;
  const seconds = Number(v.seconds);
  const nanos = v.nanos as number;
  if (!(seconds * 1000 >= MIN_MS && seconds * 1000 <= MAX_MS) || !Number.isInteger(seconds) || !Number.isInteger(nanos) || !(nanos >= 0 && nanos <= 999_999_999)) {
    throw UNSUPPORTED;
  }
  let z = "Z";
  if (nanos > 0) {
    const digits = (nanos + 1_000_000_000).toString().substring(1);
    z = digits.endsWith("000000") ? `.${digits.substring(0, 3)}Z` : digits.endsWith("000") ? `.${digits.substring(0, 6)}Z` : `.${digits}Z`;
  }
  const day = Math.floor(seconds / 86_400);
  const second = seconds - day * 86_400;
  const z0 = day + 719_468;
  const era = Math.floor(z0 / 146_097);
  const doe = z0 - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const date = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const y = year >= 1000 ? `${year}` : `000${year}`.slice(-4);
  return `${y}-${pad2(month)}-${pad2(date)}T${pad2(Math.floor(second / 3600))}:${pad2(Math.floor(second / 60) % 60)}:${pad2(second % 60)}${z}`;
}

/** toJson's google.protobuf.Duration: seconds, then nanoseconds in groups of 3 digits, "s". */
function duration(v: { $typeName?: unknown; seconds: unknown; nanos: unknown }): string {
  if (v.$typeName !== DURATION) throw UNSUPPORTED;
  const seconds = Number(v.seconds);
  const nanos = v.nanos as number;
  if (!(seconds >= -315_576_000_000 && seconds <= 315_576_000_000) || !Number.isInteger(nanos) || Math.abs(nanos) > 999_999_999) throw UNSUPPORTED;
  if ((seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) throw UNSUPPORTED;
  let text = (v.seconds as bigint | string).toString();
  if (nanos !== 0) {
    const digits = (Math.abs(nanos) + 1_000_000_000).toString().substring(1);
    text += digits.endsWith("000000") ? `.${digits.substring(0, 3)}` : digits.endsWith("000") ? `.${digits.substring(0, 6)}` : `.${digits}`;
    if (nanos < 0 && seconds === 0) text = `-${text}`;
  }
  return `${text}s`;
}

function string(v: unknown): string {
  if (typeof v !== "string") throw UNSUPPORTED;
  return v;
}
function bool(v: unknown): boolean {
  if (typeof v !== "boolean") throw UNSUPPORTED;
  return v;
}
function int32(v: unknown): number {
  if (typeof v !== "number") throw UNSUPPORTED;
  return v;
}
function int64(v: unknown): string {
  if (typeof v === "bigint" || typeof v === "string" || (typeof v === "number" && Number.isInteger(v))) return v.toString();
  throw UNSUPPORTED;
}
function double(v: unknown): number | string {
  if (typeof v !== "number") throw UNSUPPORTED;
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "Infinity";
  if (v === Number.NEGATIVE_INFINITY) return "-Infinity";
  return v;
}
function bytes(v: unknown): string {
  if (!(v instanceof Uint8Array)) throw UNSUPPORTED;
  return base64Encode(v);
}
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const helpers = { timestamp, duration, string, bool, int32, int64, double, bytes, hasOwn, UNSUPPORTED };

/** The helper converting one scalar value to JSON. */
function scalarHelper(t: ScalarType): string {
  switch (t) {
    case ScalarType.STRING:
      return "string";
    case ScalarType.BOOL:
      return "bool";
    case ScalarType.INT32:
    case ScalarType.UINT32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return "int32";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "int64";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "double";
    case ScalarType.BYTES:
      return "bytes";
  }
}

/**
 * The compiled converter of `desc`, or null when the type is handed to toJsonString. Nested types
 * are compiled on first use and reached through `nested` (recursive types included).
 */
function compile(desc: DescMessage): ToJson | null {
  const known = compiled.get(desc);
  if (known !== undefined) return known;
  if (!supported(desc, new Set())) {
    compiled.set(desc, null);
    return null;
  }
  if (desc.typeName === TIMESTAMP || desc.typeName === DURATION) {
    const wkt = (desc.typeName === TIMESTAMP ? timestamp : duration) as ToJson;
    compiled.set(desc, wkt);
    return wkt;
  }
  const nested: ToJson[] = [];
  const enums: Array<Record<number, string>> = [];
  // A nested type by index; compiled lazily, so that recursive types terminate.
  const nestedIndex = (m: DescMessage) => {
    const i = nested.length;
    nested.push((v) => {
      const f = compile(m)!;
      nested[i] = f;
      return f(v);
    });
    return i;
  };
  const enumIndex = (f: DescField) => {
    const names: Record<number, string> = Object.create(null);
    for (const v of f.enum!.values) names[v.number] = v.name;
    return enums.push(names) - 1;
  };
  /** JS expression converting `x` (one value of the field) to its JSON value. */
  const value = (f: DescField, x: string): string => {
    if (f.message !== undefined) {
      const i = nestedIndex(f.message);
      return `nested[${i}](${x})`;
    }
    if (f.enum !== undefined) return `(typeof ${x} === "number" ? (enums[${enumIndex(f)}][${x}] ?? ${x}) : h.int32(${x}))`;
    return `h.${scalarHelper(f.scalar!)}(${x})`;
  };
  const lines: string[] = [`if (m.$typeName !== ${JSON.stringify(desc.typeName)}) throw h.UNSUPPORTED;`, "const j = {};", "let v;"];
  const sorted = [...desc.fields].sort((a, b) => a.number - b.number);
  for (const f of sorted) {
    const prop = `m[${JSON.stringify(f.localName)}]`;
    const key = JSON.stringify(f.jsonName);
    if (f.oneof !== undefined) {
      lines.push(`v = m[${JSON.stringify(f.oneof.localName)}];`);
      lines.push(`if (v.case === ${JSON.stringify(f.localName)}) j[${key}] = ${value(f, "v.value")};`);
      continue;
    }
    lines.push(`v = ${prop};`);
    switch (f.fieldKind) {
      case "list":
        lines.push(`if (v.length > 0) { const a = new Array(v.length); for (let i = 0; i < v.length; i++) a[i] = ${value(f, "v[i]")}; j[${key}] = a; }`);
        break;
      case "map":
        lines.push(`{ const ks = Object.keys(v); if (ks.length > 0) { const o = {}; for (const k of ks) o[k] = ${value(f, "v[k]")}; j[${key}] = o; } }`);
        break;
      case "message":
        // Explicit presence: set when the message has the property itself (reflect's isSet).
        lines.push(`if (v !== undefined && h.hasOwn(m, ${JSON.stringify(f.localName)})) j[${key}] = ${value(f, "v")};`);
        break;
      case "enum":
      case "scalar": {
        const implicitSet = f.fieldKind === "enum" ? `v !== ${f.enum.values[0]!.number}` : scalarSetSource(f.scalar);
        const set = f.presence === IMPLICIT ? implicitSet : `v !== undefined && h.hasOwn(m, ${JSON.stringify(f.localName)})`;
        lines.push(`if (${set}) j[${key}] = ${value(f, "v")};`);
        break;
      }
    }
  }
  lines.push("return j;");
  const fn = new Function("h", "nested", "enums", `return function toJson(m) {\n${lines.join("\n")}\n};`)(helpers, nested, enums) as ToJson;
  compiled.set(desc, fn);
  return fn;
}

/** The compiled encoding of `message`, or undefined where it is toJsonString's to decide (exported
 * for the tests, which check that the plan itself, not the fallback, matched toJsonString). */
export function encodeJsonCompiled<D extends DescMessage>(schema: D, message: MessageShape<D>): string | undefined {
  const fn = compile(schema);
  if (fn === null) return undefined;
  try {
    return JSON.stringify(fn(message));
  } catch {
    // A value the plan does not expect (a wrong type, a timestamp out of range, ...).
    return undefined;
  }
}

/** toJsonString(schema, message) with default options: the same string, built by compiled code;
 * toJsonString's own result or error wherever the plan hands over. */
export function encodeJson<D extends DescMessage>(schema: D, message: MessageShape<D>): string {
  return encodeJsonCompiled(schema, message) ?? toJsonString(schema, message);
}
