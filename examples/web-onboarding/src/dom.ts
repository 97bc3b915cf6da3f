// Small accessible form helpers: every input has a <label>, an error paragraph it points to with
// aria-describedby, and aria-invalid while that error is shown. Errors of a whole step go to an
// alert region (role="alert" is also aria-live), field errors sit in a polite live region next
// to their field. Inputs carry their path in Customer as data-path, so a server violation finds
// its field.
let seq = 0;
const nextId = (base: string) => `${base.replace(/[^A-Za-z0-9_-]/g, "-")}-${++seq}`;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

export interface FieldOptions {
  readonly type?: string;
  readonly value?: string;
  readonly hint?: string;
  readonly autocomplete?: string;
  readonly inputmode?: string;
  /** A <select> with these [value, label] options instead of an <input>. */
  readonly options?: ReadonlyArray<readonly [string, string]>;
}

/** A labelled input (or select) for `path`, with its hint and its error slot. */
export function field(path: string, label: string, o: FieldOptions = {}): HTMLDivElement {
  const id = nextId(path);
  const errorId = `${id}-error`;
  const described = [errorId];
  const wrapper = el("div", { class: "field" });
  wrapper.append(el("label", { for: id }, label));
  if (o.hint) {
    wrapper.append(el("p", { class: "hint", id: `${id}-hint` }, o.hint));
    described.unshift(`${id}-hint`);
  }
  let control: HTMLInputElement | HTMLSelectElement;
  if (o.options) {
    control = el("select", { id, name: path });
    for (const [value, text] of o.options) control.append(el("option", { value }, text));
    if (o.value !== undefined) control.value = o.value;
  } else {
    control = el("input", { id, name: path, type: o.type ?? "text" });
    if (o.value !== undefined) control.value = o.value;
    if (o.autocomplete) control.setAttribute("autocomplete", o.autocomplete);
    if (o.inputmode) control.setAttribute("inputmode", o.inputmode);
  }
  control.dataset.path = path;
  control.setAttribute("aria-describedby", described.join(" "));
  wrapper.append(control, el("p", { class: "error", id: errorId, "aria-live": "polite" }));
  return wrapper;
}

/** The form's controls by data-path. */
export function controls(form: HTMLElement): Map<string, HTMLInputElement | HTMLSelectElement> {
  const out = new Map<string, HTMLInputElement | HTMLSelectElement>();
  form.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[data-path]").forEach((c) => {
    if (!(c instanceof HTMLInputElement && c.type === "checkbox")) out.set(c.dataset.path!, c);
  });
  return out;
}

export function value(form: HTMLElement, path: string): string {
  return controls(form).get(path)?.value.trim() ?? "";
}

function errorSlot(control: HTMLElement): HTMLElement | null {
  const ids = (control.getAttribute("aria-describedby") ?? "").split(" ");
  const errorId = ids.find((i) => i.endsWith("-error"));
  return errorId ? document.getElementById(errorId) : null;
}

export function clearErrors(form: HTMLElement): void {
  form.querySelectorAll<HTMLElement>("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
  form.querySelectorAll<HTMLElement>(".error").forEach((e) => (e.textContent = ""));
  const alert = form.querySelector<HTMLElement>(".alert");
  if (alert) alert.textContent = "";
}

/**
 * Shows each error next to the field its path names (or the nearest enclosing path that has a
 * field: "address.postal_code" falls back to "address"); what finds no field goes to the form's
 * alert. Focus moves to the first invalid field (else the alert). Returns the fields marked.
 */
export function showErrors(form: HTMLElement, errors: ReadonlyMap<string, string>, general = ""): number {
  const byPath = controls(form);
  const unplaced: string[] = general ? [general] : [];
  let first: HTMLElement | undefined;
  let marked = 0;
  for (const [path, message] of errors) {
    let p = path;
    let control = byPath.get(p);
    while (control === undefined && p.includes(".")) {
      p = p.slice(0, p.lastIndexOf("."));
      control = byPath.get(p) ?? [...byPath.entries()].find(([k]) => k.startsWith(`${p}.`))?.[1];
    }
    const slot = control ? errorSlot(control) : null;
    if (control && slot) {
      // A checkbox group's errors are carried by a hidden input: mark and focus its boxes.
      const boxes = control instanceof HTMLInputElement && control.type === "hidden"
        ? [...form.querySelectorAll<HTMLInputElement>("input[type=checkbox]")].filter((c) => c.dataset.path === control.dataset.path)
        : [control];
      boxes.forEach((b) => b.setAttribute("aria-invalid", "true"));
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      first ??= boxes[0] ?? control;
      marked++;
    } else {
      unplaced.push(path ? `${path}: ${message}` : message);
    }
  }
  const alert = form.querySelector<HTMLElement>(".alert");
  if (alert && unplaced.length > 0) alert.textContent = unplaced.join(" ");
  (first ?? alert ?? form).focus();
  return marked;
}

/** Disables the form's buttons while `work` runs. */
export async function busy<T>(form: HTMLElement, work: () => Promise<T>): Promise<T> {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    form.removeAttribute("aria-busy");
  }
}
