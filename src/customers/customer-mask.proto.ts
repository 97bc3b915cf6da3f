// AIP-134 field masks for UpdateCustomer: which paths may change, what an absent mask means,
// and the merge of the requested values into the current resource (protobuf reflection), so the
// merged customer can be validated by the same protovalidate rules as a new one.
import { clone, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { FieldMask } from "@bufbuild/protobuf/wkt";
import { CustomerSchema, type Customer as PbCustomer } from "../../gen/finhub/customer/v1/customer_pb.js";
import { invalidArgument, type FieldViolation } from "../errors.js";
import type { CustomerType } from "./customer.js";

/** Top-level fields an update may change. The profile is handled by its oneof member's name. */
const MUTABLE = new Set(["email", "phone_number", "country_code", "address", "external_id", "metadata"]);
const IMMUTABLE = new Set(["id", "type"]);
/** Messages whose sub-fields may be named in a path ("address.city", "individual.given_name"). */
const NESTED = new Set(["address", "individual", "business"]);

function field(desc: DescMessage, name: string): DescField | undefined {
  return desc.fields.find((f) => f.name === name);
}

function maskViolation(path: string, message: string): FieldViolation {
  return { field: "update_mask", ruleId: "update_mask.path", message: `"${path}": ${message}` };
}

/** The paths an update changes, after checking each one. Throws INVALID_ARGUMENT. */
export function resolvePaths(mask: FieldMask | undefined, request: PbCustomer, type: CustomerType): string[] {
  const profile = type; // "individual" | "business": the only profile member that may change
  if (mask === undefined || mask.paths.length === 0) return populatedPaths(request, profile);
  const violations: FieldViolation[] = [];
  const out: string[] = [];
  for (const path of mask.paths) {
    if (path === "*") {
      out.push(...MUTABLE, profile);
      continue;
    }
    const [head, sub, ...rest] = path.split(".");
    if (head === undefined || head === "" || rest.length > 0) {
      violations.push(maskViolation(path, "is not a field of Customer"));
    } else if (IMMUTABLE.has(head)) {
      violations.push(maskViolation(path, "cannot be changed after the customer is created"));
    } else if (head === "individual" || head === "business") {
      if (head !== profile) violations.push(maskViolation(path, `the customer is ${type}: the profile type cannot be changed`));
      else if (sub !== undefined && !field(CustomerSchema.fields.find((f) => f.name === head)!.message!, sub)) {
        violations.push(maskViolation(path, `is not a field of ${head}`));
      } else out.push(path);
    } else if (!MUTABLE.has(head)) {
      violations.push(
        maskViolation(path, field(CustomerSchema, head) ? "is output only (changed by other RPCs or by the server)" : "is not a field of Customer"),
      );
    } else if (sub !== undefined && (head !== "address" || !field(CustomerSchema.fields.find((f) => f.name === "address")!.message!, sub))) {
      violations.push(maskViolation(path, `is not a field of ${head}`));
    } else {
      out.push(path);
    }
  }
  if (violations.length > 0) throw invalidArgument(violations, "INVALID_UPDATE_MASK");
  return [...new Set(out)];
}

/** Absent mask: every field set in the request, nested messages field by field. */
function populatedPaths(request: PbCustomer, profile: CustomerType): string[] {
  const r = reflect(CustomerSchema, request);
  const out: string[] = [];
  for (const f of CustomerSchema.fields) {
    if (!r.isSet(f)) continue;
    if (f.name === "individual" || f.name === "business") {
      if (f.name !== profile) {
        throw invalidArgument([maskViolation(f.name, `the customer is ${profile}: the profile type cannot be changed`)], "INVALID_UPDATE_MASK");
      }
      const sub = r.get(f) as ReflectMessage;
      for (const sf of sub.desc.fields) if (sub.isSet(sf)) out.push(`${f.name}.${sf.name}`);
    } else if (f.name === "address") {
      const sub = r.get(f) as ReflectMessage;
      for (const sf of sub.desc.fields) if (sub.isSet(sf)) out.push(`address.${sf.name}`);
    } else if (MUTABLE.has(f.name)) {
      out.push(f.name);
    }
    // id, type, etag and output-only fields are ignored when there is no mask (AIP-134).
  }
  return out;
}

/** `current` with the named paths copied from the request (unset there = cleared). `current` is
 * changed and returned: pass a message of your own (customerToProto's fresh one). The request is
 * copied once, so nothing of it is shared with the result. */
export function mergePaths(current: PbCustomer, request: PbCustomer, paths: readonly string[]): PbCustomer {
  const to = reflect(CustomerSchema, current);
  const from = reflect(CustomerSchema, clone(CustomerSchema, request));
  for (const path of paths) {
    const [head, sub] = path.split(".") as [string, string | undefined];
    const f = field(CustomerSchema, head)!;
    if (sub === undefined || !NESTED.has(head)) {
      copyField(from, to, f);
      continue;
    }
    if (!to.isSet(f)) to.set(f, reflect(f.message!));
    const target = to.get(f) as ReflectMessage;
    const sf = field(f.message!, sub)!;
    if (from.isSet(f)) copyField(from.get(f) as ReflectMessage, target, sf);
    else target.clear(sf);
  }
  return current;
}

function copyField(from: ReflectMessage, to: ReflectMessage, f: DescField): void {
  if (from.isSet(f)) to.set(f, from.get(f) as never);
  else to.clear(f);
}
