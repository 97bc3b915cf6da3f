// The B2C / B2B registration flow a tenant's front end runs, step by step:
//   1. details (name or legal name, email, phone, country) -> CreateCustomer
//   2. "we sent you a code" by email -> StartEmailVerification / VerifyEmail
//   3. the same by phone -> StartPhoneVerification / VerifyPhone
//   4. the profile fields the server says are due -> UpdateCustomer (mask = those paths),
//      repeated while GetCustomerRequirements reports anything currently due
//   5. ActivateCustomer -> "Your account is active"
// Each step replaces <main>'s content and moves focus to its heading; server errors appear
// next to the field their violation names.
import { CustomerStatus, type Customer } from "../../../gen/finhub/customer/v1/customer_pb.js";
import { createApi, fetchSession, transportFromLocation, type Api } from "./api.js";
import { busy, clearErrors, el, field, showErrors, value } from "./dom.js";
import { describeError } from "./errors.js";
import { customerFromInputs, requirementGroup } from "./requirements.js";

const app = document.getElementById("app")!;
const transport = transportFromLocation(location.search);
document.getElementById("transport-note")!.textContent = transport === "grpcweb" ? "Transport: gRPC-Web" : "Transport: Connect";

/** Countries this front end offers (the tenant's choice; the server checks its own list). */
const COUNTRIES = ["GB", "US", "DE", "FR", "NL", "IE", "ES", "IT", "SE", "PL", "CH", "CA", "AU", "SG"];
const regionNames = new Intl.DisplayNames(["en"], { type: "region" });

function screen(title: string, ...content: Node[]): HTMLHeadingElement {
  const h1 = el("h1", { tabindex: "-1" }, title);
  app.replaceChildren(h1, ...content);
  h1.focus();
  return h1;
}

function form(submitLabel: string, ...content: Node[]): HTMLFormElement {
  const f = el("form", { novalidate: "" });
  f.append(el("div", { class: "alert", role: "alert", tabindex: "-1" }), ...content, el("button", { type: "submit" }, submitLabel));
  return f;
}

/** Runs a server call for `f`; on failure shows its errors (field violations next to their
 * fields, the rest in the alert; `fallbackPath` takes errors with no field) and returns undefined. */
async function attempt<T>(f: HTMLFormElement, work: () => Promise<T>, fallbackPath?: string): Promise<T | undefined> {
  clearErrors(f);
  try {
    return await busy(f, work);
  } catch (err) {
    const p = describeError(err);
    const left = p.metadata.attempts_left;
    const withAttempts = (text: string) => (left !== undefined ? `${text} (${left} attempts left)` : text);
    const fields = new Map([...p.fields].map(([path, text]) => [path, withAttempts(text)] as const));
    let general = "";
    if (p.reason === "" && /fetch|network/i.test(p.message)) {
      // No answer at all (offline, or refused by CORS): the browser says only "Failed to fetch".
      general = "We could not reach the service. Check your connection and try again.";
    } else if (fields.size === 0) {
      if (fallbackPath) fields.set(fallbackPath, withAttempts(p.message));
      else general = withAttempts(p.message);
    }
    showErrors(f, fields, general);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

function start(api: Api): void {
  const kind = el("fieldset", {}, el("legend", {}, "I am opening an account for"));
  for (const [v, text] of [["individual", "myself (personal account)"], ["business", "a business"]] as const) {
    const input = el("input", { type: "radio", name: "kind", value: v, id: `kind-${v}` });
    if (v === "individual") input.checked = true;
    kind.append(el("div", {}, input, " ", el("label", { for: `kind-${v}` }, text)));
  }
  const personal = el("div", {}, field("individual.given_name", "Given name", { autocomplete: "given-name" }), field("individual.family_name", "Family name", { autocomplete: "family-name" }));
  const business = el("div", { hidden: "" }, field("business.legal_name", "Legal name of the business", { autocomplete: "organization" }));
  const f = form(
    "Create account",
    kind,
    personal,
    business,
    field("email", "Email", { type: "email", autocomplete: "email" }),
    field("phone_number", "Mobile phone", { type: "tel", autocomplete: "tel", hint: "International format, e.g. +44 7911 123456." }),
    field("country_code", "Country", { options: [["", "Choose…"], ...COUNTRIES.map((c): [string, string] => [c, regionNames.of(c) ?? c])] }),
  );
  kind.addEventListener("change", () => {
    const isBusiness = f.querySelector<HTMLInputElement>("input[name=kind]:checked")?.value === "business";
    personal.hidden = isBusiness;
    business.hidden = !isBusiness;
  });
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const isBusiness = f.querySelector<HTMLInputElement>("input[name=kind]:checked")?.value === "business";
    const profile = isBusiness
      ? { case: "business" as const, value: { legalName: value(f, "business.legal_name") } }
      : { case: "individual" as const, value: { givenName: value(f, "individual.given_name"), familyName: value(f, "individual.family_name") } };
    const res = await attempt(f, () =>
      api.customers.createCustomer({
        requestId: crypto.randomUUID(),
        customer: { profile, email: value(f, "email"), phoneNumber: value(f, "phone_number").replace(/[\s()-]/g, ""), countryCode: value(f, "country_code") },
      }),
    );
    if (res?.customer) await verifyContact(api, res.customer, "email");
  });
  screen("Open an account", f);
}

async function verifyContact(api: Api, customer: Customer, channel: "email" | "phone"): Promise<void> {
  const codeField = field("code", channel === "email" ? "Email code" : "Phone code", { inputmode: "numeric", autocomplete: "one-time-code" });
  const sent = el("p", { "aria-live": "polite" });
  const resend = el("button", { type: "button", class: "secondary" }, "Send a new code");
  const f = form(channel === "email" ? "Verify email" : "Verify phone", sent, codeField);
  f.append(resend);
  screen(channel === "email" ? "Check your email" : "Check your phone", f);

  const send = () =>
    attempt(f, async () => {
      const r = channel === "email"
        ? await api.verification.startEmailVerification({ customerId: customer.id, requestId: crypto.randomUUID() })
        : await api.verification.startPhoneVerification({ customerId: customer.id, requestId: crypto.randomUUID() });
      sent.textContent = `We sent you a ${r.codeLength}-digit code at ${r.destination}.`;
      return r;
    });
  resend.addEventListener("click", () => void send());
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = value(f, "code");
    const res = await attempt(
      f,
      async (): Promise<{ customer?: Customer }> =>
        channel === "email" ? api.verification.verifyEmail({ customerId: customer.id, code }) : api.verification.verifyPhone({ customerId: customer.id, code }),
      "code",
    );
    if (res === undefined) return;
    const fresh = res.customer ?? (await api.customers.getCustomer({ id: customer.id })).customer!;
    if (channel === "email" && !fresh.phoneVerified) await verifyContact(api, fresh, "phone");
    else await completeProfile(api, fresh);
  });
  await send();
}

async function completeProfile(api: Api, customer: Customer): Promise<void> {
  const reqs = await api.customers.getCustomerRequirements({ id: customer.id });
  const due = reqs.currentlyDue.filter((r) => r.reason !== "EMAIL_NOT_VERIFIED" && r.reason !== "PHONE_NOT_VERIFIED");
  if (due.length === 0) return activate(api, customer);
  const f = form("Save and continue", el("p", {}, "We need a few more details before we can open your account."), ...due.map((r) => requirementGroup(r, customer)));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await attempt(f, () =>
      api.customers.updateCustomer({
        requestId: crypto.randomUUID(),
        customer: customerFromInputs(f, customer.id, customer.etag) as never,
        updateMask: { paths: due.map((r) => r.field) },
      }),
    );
    if (res?.customer) await completeProfile(api, res.customer);
  });
  screen("Complete your profile", f);
}

async function activate(api: Api, customer: Customer): Promise<void> {
  const f = form("Activate my account", el("p", {}, "Everything is in place."));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await attempt(f, () => api.customers.activateCustomer({ id: customer.id, requestId: crypto.randomUUID() }));
    if (res?.customer?.status === CustomerStatus.ACTIVE) done(res.customer);
  });
  screen("Ready to activate", f);
}

function done(customer: Customer): void {
  const name = customer.profile.case === "business" ? customer.profile.value.legalName : customer.profile.value?.givenName ?? "";
  screen(
    "Your account is active",
    el("p", { class: "done", role: "status" }, `Welcome, ${name}. You can now use Example Pay.`),
    el("dl", {}, el("dt", {}, "Customer id"), el("dd", { "data-testid": "customer-id" }, customer.id), el("dt", {}, "Email"), el("dd", {}, customer.email)),
  );
}

// ---------------------------------------------------------------------------------------------

try {
  start(createApi(await fetchSession(), transport));
} catch (err) {
  screen("We could not start your onboarding", el("p", { role: "alert" }, err instanceof Error ? err.message : String(err)));
}
