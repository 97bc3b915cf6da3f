// The browser onboarding flow of examples/web-onboarding in headless Chromium, over both
// Connect-Web transports: B2C (with a server-side field violation and a wrong code on the way)
// and B2B (business details and a representative, as the server asks for them). The page's only
// credential is the session token its tenant backend minted; the test reads the codes the
// service sent from the webhook receiver, and checks the end state with the tenant's own key.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerStatus, RepresentativeRole } from "../../gen/finhub/customer/v1/customer_pb.js";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { localMobile } from "../support/fixtures.js";
import { ARTIFACTS_DIR, codeFor, startStack, type Stack } from "./stack.js";

const WAIT = { timeout: 15_000 };

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(["GB", "DE"]);
});
afterAll(async () => {
  await stack?.close();
});

/** A code of the same length that is not `code`. */
const wrongCode = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");

async function heading(page: Page, name: string): Promise<void> {
  await page.getByRole("heading", { level: 1, name }).waitFor(WAIT);
}

/** The text of the error slot a field's aria-describedby points to. */
async function errorOf(page: Page, label: string): Promise<string> {
  const input = page.getByLabel(label, { exact: true });
  const ids = ((await input.getAttribute("aria-describedby")) ?? "").split(" ").filter((i) => i.endsWith("-error"));
  expect(ids).toHaveLength(1);
  return (await page.locator(`#${ids[0]}`).textContent()) ?? "";
}

async function waitInvalid(page: Page, label: string): Promise<void> {
  await page.getByLabel(label, { exact: true }).and(page.locator('[aria-invalid="true"]')).waitFor(WAIT);
}

async function focusedLabel(page: Page): Promise<string> {
  return page.evaluate("document.activeElement && document.activeElement.labels && document.activeElement.labels[0] ? document.activeElement.labels[0].textContent : ''") as Promise<string>;
}

async function verifyWithCode(page: Page, channel: "email" | "phone", destination: string, n = 1): Promise<void> {
  const label = channel === "email" ? "Email code" : "Phone code";
  await heading(page, channel === "email" ? "Check your email" : "Check your phone");
  await page.getByText(/We sent you a \d+-digit code/).waitFor(WAIT);
  await page.getByLabel(label, { exact: true }).fill(await codeFor(stack.webhook, channel, destination, n));
  await page.getByRole("button", { name: channel === "email" ? "Verify email" : "Verify phone" }).click();
}

/** The requirement groups the profile form shows (one per path the server reports as due). */
async function requirementGroups(page: Page): Promise<string[]> {
  return page.locator("form > fieldset > legend").allTextContents();
}

async function finish(page: Page, artifact: string): Promise<string> {
  await heading(page, "Ready to activate");
  await page.getByRole("button", { name: "Activate my account" }).click();
  await heading(page, "Your account is active");
  await page.screenshot({ path: join(ARTIFACTS_DIR, artifact), fullPage: true });
  const id = (await page.getByTestId("customer-id").textContent()) ?? "";
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id;
}

/** The customer as the tenant's backend sees it (with the secret key, never in the browser). */
async function customerAsTenant(id: string) {
  const client = createClient(CustomerService, createConnectTransport({ baseUrl: stack.server.baseUrl, httpVersion: "1.1" }));
  return (await client.getCustomer({ id }, { headers: { authorization: `Bearer ${stack.apiKey}` } })).customer!;
}

async function openPage(transport: "connect" | "grpcweb"): Promise<Page> {
  leaked.length = 0;
  const context = await stack.browser.newContext();
  const page = await context.newPage();
  // The browser must never see the tenant's secret key: record every request it sends.
  page.on("request", (req) => {
    const auth = req.headers()["authorization"] ?? "";
    if (auth !== "" && !auth.startsWith("Bearer cms_st_")) leaked.push(`${req.url()} ${auth.slice(0, 12)}…`);
    if (auth.includes(stack.apiKey)) leaked.push(`${req.url()} carries the API key`);
  });
  await page.goto(`${stack.page.origin}/?transport=${transport}`);
  await heading(page, "Open an account");
  expect(await page.getByText(transport === "grpcweb" ? "Transport: gRPC-Web" : "Transport: Connect").count()).toBe(1);
  return page;
}

const leaked: string[] = [];

describe.each(["connect", "grpcweb"] as const)("web onboarding over %s", (transport) => {
  it("B2C: a field violation shown at its field, a wrong code shown at the code field, then verified, completed and active", async () => {
    const page = await openPage(transport);
    const email = `ada.${randomUUID()}@example.com`;
    const phone = localMobile("GB");

    await page.getByLabel("Given name", { exact: true }).fill("Ada");
    await page.getByLabel("Family name", { exact: true }).fill("Lovelace");
    await page.getByLabel("Email", { exact: true }).fill("ada-at-example.com");
    await page.getByLabel("Mobile phone", { exact: true }).fill(phone);
    await page.getByLabel("Country", { exact: true }).selectOption("GB");
    await page.getByRole("button", { name: "Create account" }).click();

    // The server's violation (customer.email) lands next to the Email field, which gets focus.
    await waitInvalid(page, "Email");
    expect(await errorOf(page, "Email")).toMatch(/email/i);
    expect(await focusedLabel(page)).toBe("Email");
    expect(await page.locator('[aria-invalid="true"]').count()).toBe(1);

    await page.getByLabel("Email", { exact: true }).fill(email);
    await page.getByRole("button", { name: "Create account" }).click();

    // A wrong email code: the error is shown at the code field, with the attempts left.
    await heading(page, "Check your email");
    const code = await codeFor(stack.webhook, "email", email);
    await page.getByLabel("Email code", { exact: true }).fill(wrongCode(code));
    await page.getByRole("button", { name: "Verify email" }).click();
    await waitInvalid(page, "Email code");
    expect(await errorOf(page, "Email code")).toMatch(/attempts left/);
    expect(await focusedLabel(page)).toBe("Email code");
    await page.screenshot({ path: join(ARTIFACTS_DIR, `b2c-wrong-code-${transport}.png`), fullPage: true });

    await page.getByLabel("Email code", { exact: true }).fill(code);
    await page.getByRole("button", { name: "Verify email" }).click();
    await verifyWithCode(page, "phone", phone);

    // What GB asks of an individual, as the server reports it: an address and a date of birth.
    await heading(page, "Complete your profile");
    expect(await requirementGroups(page)).toEqual(["Address", "Date of birth"]);
    await page.getByLabel("Address line 1", { exact: true }).fill("10 Downing Street");
    await page.getByLabel("City", { exact: true }).fill("London");
    await page.getByLabel("Postal code", { exact: true }).fill("SW1A 2AA");
    expect(await page.getByLabel("Country code", { exact: true }).inputValue()).toBe("GB");
    await page.getByLabel("Date of birth", { exact: true }).fill("1980-12-10");
    await page.getByRole("button", { name: "Save and continue" }).click();

    const id = await finish(page, `b2c-${transport}.png`);
    const customer = await customerAsTenant(id);
    expect({ status: customer.status, email: customer.email, phone: customer.phoneNumber, missing: customer.missingRequirements }).toEqual({
      status: CustomerStatus.ACTIVE,
      email,
      phone,
      missing: [],
    });
    expect(customer.profile.case === "individual" && customer.profile.value.givenName).toBe("Ada");
    expect(leaked).toEqual([]);
    await page.context().close();
  });

  it("B2B: business details and representatives as the server asks for them (a missing role shown at the role boxes), then active", async () => {
    const page = await openPage(transport);
    const email = `office.${randomUUID()}@example.com`;
    const phone = localMobile("GB");

    await page.getByLabel("a business", { exact: true }).check();
    await page.getByLabel("Legal name of the business", { exact: true }).fill("Analytical Engines Ltd");
    await page.getByLabel("Email", { exact: true }).fill(email);
    await page.getByLabel("Mobile phone", { exact: true }).fill(phone);
    await page.getByLabel("Country", { exact: true }).selectOption("GB");
    await page.getByRole("button", { name: "Create account" }).click();

    await verifyWithCode(page, "email", email);
    await verifyWithCode(page, "phone", phone);

    // GB asks a business for its registered address, company number and representatives.
    await heading(page, "Complete your profile");
    expect(await requirementGroups(page)).toEqual(["Address", "Registration number", "Representatives"]);
    await page.getByLabel("Address line 1", { exact: true }).fill("1 Engine Yard");
    await page.getByLabel("City", { exact: true }).fill("London");
    await page.getByLabel("Postal code", { exact: true }).fill("EC1A 1BB");
    await page.getByLabel("Registration number", { exact: true }).fill("00445790");
    await page.getByLabel("Given name", { exact: true }).fill("Charles");
    await page.getByLabel("Family name", { exact: true }).fill("Babbage");
    await page.getByLabel("Date of birth", { exact: true }).fill("1971-12-26");
    await page.getByLabel("Nationality", { exact: true }).fill("GB");
    await page.getByLabel("Ownership (%)", { exact: true }).fill("60");
    // No role yet: the server's violation on representatives[0].roles lands at the role boxes.
    await page.getByRole("button", { name: "Save and continue" }).click();
    await waitInvalid(page, "Director");
    expect(await errorOf(page, "Director")).not.toBe("");
    expect(await focusedLabel(page)).toBe(" Director");
    await page.getByLabel("Director", { exact: true }).check();
    await page.getByLabel("Beneficial owner", { exact: true }).check();
    // A second representative: a signer with 10 %.
    await page.getByRole("button", { name: "Add another representative" }).click();
    const second = page.getByRole("group", { name: "Representative 2", exact: true });
    expect(await focusedLabel(page)).toBe("Given name");
    await second.getByLabel("Given name", { exact: true }).fill("Augusta");
    await second.getByLabel("Family name", { exact: true }).fill("King");
    await second.getByLabel("Authorized signer", { exact: true }).check();
    await second.getByLabel("Ownership (%)", { exact: true }).fill("10");
    await page.getByRole("button", { name: "Save and continue" }).click();

    const id = await finish(page, `b2b-${transport}.png`);
    const customer = await customerAsTenant(id);
    expect(customer.status).toBe(CustomerStatus.ACTIVE);
    expect(customer.profile.case).toBe("business");
    if (customer.profile.case === "business") {
      expect(customer.profile.value.legalName).toBe("Analytical Engines Ltd");
      expect(customer.profile.value.representatives.map((r) => [r.givenName, r.ownershipBasisPoints, r.roles])).toEqual([
        ["Charles", 6000, [RepresentativeRole.DIRECTOR, RepresentativeRole.BENEFICIAL_OWNER]],
        ["Augusta", 1000, [RepresentativeRole.AUTHORIZED_SIGNER]],
      ]);
    }
    expect(leaked).toEqual([]);
    await page.context().close();
  });
});

describe("keyboard", () => {
  it("the first step's focus order follows the form: kind, names, email, phone, country, submit", async () => {
    const page = await openPage("connect");
    // The step's heading has focus on arrival; Tab walks the controls in reading order.
    expect(await page.evaluate("document.activeElement && document.activeElement.tagName")).toBe("H1");
    const order: string[] = [];
    for (let i = 0; i < 7; i++) {
      await page.keyboard.press("Tab");
      order.push(
        (await page.evaluate(
          "(() => { const a = document.activeElement; if (!a) return ''; if (a.tagName === 'BUTTON') return 'button:' + a.textContent; return (a.labels && a.labels[0] ? a.labels[0].textContent : a.tagName).trim(); })()",
        )) as string,
      );
    }
    expect(order).toEqual(["myself (personal account)", "Given name", "Family name", "Email", "Mobile phone", "Country", "button:Create account"]);
    await page.context().close();
  });
});

describe("the profile form follows the server's requirements, not a per-country list in the page", () => {
  it("DE asks an individual for a nationality as well (GB does not): the form shows it, a bad postal code is shown at its field, then active", async () => {
    const page = await openPage("connect");
    const email = `karl.${randomUUID()}@example.com`;
    const phone = localMobile("DE");
    await page.getByLabel("Given name", { exact: true }).fill("Karl");
    await page.getByLabel("Family name", { exact: true }).fill("Weierstrass");
    await page.getByLabel("Email", { exact: true }).fill(email);
    await page.getByLabel("Mobile phone", { exact: true }).fill(phone);
    await page.getByLabel("Country", { exact: true }).selectOption("DE");
    await page.getByRole("button", { name: "Create account" }).click();
    await verifyWithCode(page, "email", email);
    await verifyWithCode(page, "phone", phone);

    await heading(page, "Complete your profile");
    expect(await requirementGroups(page)).toEqual(["Address", "Date of birth", "Nationality"]);
    expect(await page.getByLabel("Country code", { exact: true }).inputValue()).toBe("DE");
    await page.getByLabel("Address line 1", { exact: true }).fill("Unter den Linden 6");
    await page.getByLabel("City", { exact: true }).fill("Berlin");
    await page.getByLabel("Postal code", { exact: true }).fill("SW1A 2AA"); // not a German postal code
    await page.getByLabel("Date of birth", { exact: true }).fill("1985-10-31");
    await page.getByLabel("Nationality", { exact: true }).fill("de");
    await page.getByRole("button", { name: "Save and continue" }).click();

    // The domain rule's violation (customer.address.postal_code) lands at the Postal code field.
    await waitInvalid(page, "Postal code");
    expect(await errorOf(page, "Postal code")).not.toBe("");
    expect(await focusedLabel(page)).toBe("Postal code");
    await page.getByLabel("Postal code", { exact: true }).fill("10117");
    await page.getByRole("button", { name: "Save and continue" }).click();

    const id = await finish(page, "b2c-de-connect.png");
    const customer = await customerAsTenant(id);
    expect(customer.status).toBe(CustomerStatus.ACTIVE);
    expect(customer.profile.case === "individual" && customer.profile.value.nationality).toBe("DE");
    expect(customer.address?.postalCode).toBe("10117");
    expect(leaked).toEqual([]);
    await page.context().close();
  });
});
