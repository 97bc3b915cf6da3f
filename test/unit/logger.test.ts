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
});
