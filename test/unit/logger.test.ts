import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";

function capture() {
  const lines: string[] = [];
  const logger = createLogger("info", { write: (l: string) => void lines.push(l) });
  return { logger, entries: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe("logger redaction", () => {
  it("redacts personal data, keys and codes at any of the first levels", () => {
    const { logger, entries } = capture();
    logger.info(
      {
        email: "a@b.example",
        customer: { phoneNumber: "+15551234567", givenName: "Ada", profile: { familyName: "Lovelace", national_id: "123" } },
        headers: { authorization: "Bearer cms_x" },
        api_key: "cms_y",
        code: "123456",
        customer_id: "kept",
      },
      "m",
    );
    const e = entries()[0]!;
    expect(e.email).toBe("[REDACTED]");
    expect(e.customer.phoneNumber).toBe("[REDACTED]");
    expect(e.customer.givenName).toBe("[REDACTED]");
    expect(e.customer.profile.familyName).toBe("[REDACTED]");
    expect(e.customer.profile.national_id).toBe("[REDACTED]");
    expect(e.headers.authorization).toBe("[REDACTED]");
    expect(e.api_key).toBe("[REDACTED]");
    expect(e.code).toBe("[REDACTED]");
    expect(e.customer_id).toBe("kept");
    expect(e.service).toBe("customerms");
    expect(e.level).toBe("info");
  });

  it("redacts addresses, identifiers and key material down to the fifth level", () => {
    const { logger, entries } = capture();
    logger.info(
      {
        request: { customer: { business: { representatives: { dateOfBirth: "1970-01-02", middle_name: "Q" } } } },
        customer: { address: { line1: "1 Main St", postal_code: "SW1A 1AA" }, identifier: "AB123456C" },
        key: { wrapped_key: "w1.x", masterKey: "k" },
        tenant_id: "kept",
      },
      "m",
    );
    const e = entries()[0]!;
    expect(e.request.customer.business.representatives.dateOfBirth).toBe("[REDACTED]");
    expect(e.request.customer.business.representatives.middle_name).toBe("[REDACTED]");
    expect(e.customer.address).toBe("[REDACTED]");
    expect(e.customer.identifier).toBe("[REDACTED]");
    expect(e.key.wrapped_key).toBe("[REDACTED]");
    expect(e.key.masterKey).toBe("[REDACTED]");
    expect(e.tenant_id).toBe("kept");
    expect(JSON.stringify(e)).not.toMatch(/1970-01-02|Main St|SW1A|AB123456C|w1\.x/);
  });
});
