// The profile-completion form is driven by what the server says is due (Customer
// .missing_requirements / GetCustomerRequirements): one group of inputs per due path, chosen
// from the SHAPE of that path in the generated Customer schema (a string, a date, an enum, an
// address, a government identifier, a list of representatives) — never from a per-country list.
// The same schema turns the inputs back into an UpdateCustomer request whose update_mask is
// exactly the due paths.
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { CustomerSchema, type Requirement } from "../../../gen/finhub/customer/v1/customer_pb.js";
import { el, field, controls } from "./dom.js";

/** Field names whose plain reading is not a good label. */
const LABELS: Readonly<Record<string, string>> = { line1: "Address line 1", line2: "Address line 2" };

/** "date_of_birth" -> "Date of birth" */
export function humanize(name: string): string {
  const s = LABELS[name] ?? name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The fields along a path of Customer ("individual.date_of_birth"); undefined if unknown. */
export function fieldsOf(path: string, schema: DescMessage = CustomerSchema): DescField[] | undefined {
  const out: DescField[] = [];
  let msg: DescMessage | undefined = schema;
  for (const seg of path.split(".")) {
    const f: DescField | undefined = msg?.fields.find((x) => x.name === seg);
    if (f === undefined) return undefined;
    out.push(f);
    msg = f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message") ? f.message : undefined;
  }
  return out;
}

const isCountryField = (name: string) => name === "nationality" || name.endsWith("country") || name === "country_code";

function enumOptions(f: DescField): Array<[string, string]> {
  const e = f.fieldKind === "enum" ? f.enum : f.fieldKind === "list" && f.listKind === "enum" ? f.enum : undefined;
  if (e === undefined) return [];
  return [["", "Choose…"], ...e.values.filter((v) => v.number !== 0).map((v): [string, string] => [String(v.number), humanize(v.localName.toLowerCase())])];
}

/** Inputs for one leaf field at `path` (a scalar, an enum or a Date). */
function leafInputs(path: string, f: DescField, defaults: { country: string }): HTMLElement[] {
  const label = humanize(f.name);
  if (f.fieldKind === "enum") return [field(path, label, { options: enumOptions(f) })];
  if (f.fieldKind === "message" && f.message.typeName === "google.type.Date") return [field(path, label, { type: "date" })];
  if (f.fieldKind === "message" && f.message.typeName === "finhub.customer.v1.GovernmentIdentifier") {
    return [
      field(`${path}.type`, `${label}: type`, { hint: "The scheme, e.g. GB_NINO, US_SSN, DE_STEUER_ID." }),
      field(`${path}.value`, `${label}: number`, { autocomplete: "off" }),
    ];
  }
  if (f.fieldKind === "message") {
    // A message such as Address: each of its scalar fields.
    return f.message.fields.flatMap((sub) => leafInputs(`${path}.${sub.name}`, sub, defaults));
  }
  if (isCountryField(f.name)) {
    return [field(path, label, { hint: "Two-letter country code, e.g. GB.", value: path.endsWith("country_code") ? defaults.country : "", autocomplete: "country" })];
  }
  return [field(path, label, f.name === "website" ? { type: "url" } : {})];
}

/** The inputs of one representative, as element `index` of `path`. */
function representativeInputs(path: string, f: DescField & { fieldKind: "list" }, index: number): HTMLElement {
  const base = `${path}[${index}]`;
  const box = el("fieldset", {}, el("legend", {}, `Representative ${index + 1}`));
  const msg = f.listKind === "message" ? f.message : undefined;
  for (const sub of msg?.fields ?? []) {
    if (sub.name === "id") continue;
    if (sub.fieldKind === "list" && sub.listKind === "enum") {
      // Roles: one checkbox per defined value.
      const group = el("fieldset", { class: "checks" }, el("legend", {}, humanize(sub.name)));
      const errorId = `${base.replace(/[^A-Za-z0-9_-]/g, "-")}-${sub.name}-error`;
      for (const [value, text] of enumOptions(sub).slice(1)) {
        const input = el("input", { type: "checkbox", name: `${base}.${sub.name}`, value, "aria-describedby": errorId });
        input.dataset.path = `${base}.${sub.name}`;
        group.append(el("label", {}, input, ` ${text}`));
      }
      // The group's error slot: a hidden data-path carrier so violations of the roles land here.
      const carrier = el("input", { type: "hidden", "aria-describedby": errorId });
      carrier.dataset.path = `${base}.${sub.name}`;
      group.append(carrier, el("p", { class: "error", id: errorId, "aria-live": "polite" }));
      box.append(group);
    } else if (sub.name === "ownership_basis_points") {
      box.append(field(`${base}.${sub.name}`, "Ownership (%)", { type: "number", inputmode: "decimal", hint: "Share of the business owned, 0 to 100." }));
    } else {
      box.append(...leafInputs(`${base}.${sub.name}`, sub, { country: "" }));
    }
  }
  return box;
}

/** A fieldset for one due requirement. */
export function requirementGroup(req: Requirement, customer: { countryCode: string }): HTMLElement {
  const fields = fieldsOf(req.field);
  const box = el("fieldset", {}, el("legend", {}, humanize(req.field.split(".").at(-1) ?? req.field)), el("p", { class: "hint" }, req.description));
  const f = fields?.at(-1);
  if (f === undefined) {
    box.append(field(req.field, humanize(req.field)));
  } else if (f.fieldKind === "list" && f.listKind === "message") {
    // A list (representatives): one item to start with, more on request.
    let count = 0;
    const items = el("div");
    const add = () => {
      const item = representativeInputs(req.field, f, count++);
      items.append(item);
      return item;
    };
    add();
    const more = el("button", { type: "button", class: "secondary" }, `Add another ${humanize(f.name).toLowerCase().replace(/s$/, "")}`);
    more.addEventListener("click", () => add().querySelector<HTMLElement>("input, select")?.focus());
    box.append(items, more);
  } else {
    box.append(...leafInputs(req.field, f, { country: customer.countryCode }));
  }
  return box;
}

type Init = Record<string, unknown>;

/** Sets `value` at `path` (field names of `schema`, "[i]" for list items) in a protobuf-es init
 * object, creating messages, oneof cases and list items on the way. */
function setPath(init: Init, schema: DescMessage, path: string, value: unknown): void {
  let target: Init = init;
  let msg: DescMessage | undefined = schema;
  const segs = path.split(".");
  segs.forEach((raw, i) => {
    const m = /^(.+)\[(\d+)\]$/.exec(raw);
    const name = m ? m[1]! : raw;
    const f: DescField | undefined = msg?.fields.find((x) => x.name === name);
    if (f === undefined) throw new Error(`unknown field ${name} in ${msg?.typeName}`);
    const last = i === segs.length - 1;
    let holder: Init = target;
    let key = f.localName;
    if (f.oneof !== undefined) {
      const o = (target[f.oneof.localName] ??= { case: f.localName, value: {} }) as { case: string; value: Init };
      holder = o as unknown as Init;
      key = "value";
    }
    if (m) {
      const list = (holder[key] ??= []) as Init[];
      const idx = Number(m[2]);
      if (last) (list as unknown[])[idx] = value;
      else target = list[idx] ??= {};
    } else if (last) {
      holder[key] = value;
    } else {
      target = (holder[key] ??= {}) as Init;
    }
    msg = f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message") ? f.message : undefined;
  });
}

function dateValue(s: string): { year: number; month: number; day: number } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : undefined;
}

/** The partial Customer (init shape) the inputs of `form` describe, for UpdateCustomer with the
 * due paths as update_mask. Empty inputs are left unset, so the server reports them. */
export function customerFromInputs(form: HTMLElement, id: string, etag: string): Init {
  const init: Init = { id, etag };
  for (const [path, control] of controls(form)) {
    if (control instanceof HTMLInputElement && control.type === "hidden") continue;
    const raw = control.value.trim();
    if (raw === "") continue;
    const f = fieldsOf(path.replace(/\[\d+\]/g, ""))?.at(-1);
    let v: unknown = raw;
    if (f?.fieldKind === "enum") v = Number(raw);
    else if (f?.fieldKind === "message" && f.message.typeName === "google.type.Date") v = dateValue(raw);
    else if (f?.name === "ownership_basis_points") v = Math.round(Number(raw) * 100);
    else if (f && isCountryField(f.name)) v = raw.toUpperCase();
    if (v !== undefined) setPath(init, CustomerSchema, path, v);
  }
  // Checkbox groups (representative roles): the checked values.
  const groups = new Map<string, number[]>();
  form.querySelectorAll<HTMLInputElement>("input[type=checkbox][data-path]").forEach((c) => {
    const list = groups.get(c.dataset.path!) ?? [];
    if (c.checked) list.push(Number(c.value));
    groups.set(c.dataset.path!, list);
  });
  for (const [path, values] of groups) setPath(init, CustomerSchema, path, values);
  return init;
}
