// The pure verification rules (src/verification/policy.ts): the tenant policy with its defaults
// and clamping, code generation, the bound code hash, its constant-time comparison, and masking.
import fc from "fast-check";
import * as crypto from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_POLICY,
  effectivePolicy,
  generateCode,
  hashCode,
  hashDestination,
  maskDestination,
  sameHash,
  type Channel,
  type CodeBinding,
} from "../../src/verification/policy.js";

// generateCode draws from crypto.randomInt: wrapped (still the real one by default) so a test
// can make it return a small number and see the leading zeros kept.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, randomInt: vi.fn(actual.randomInt) };
});

afterEach(() => {
  vi.mocked(crypto.randomInt).mockClear();
});

const SECRET = Buffer.alloc(32, 7);

describe("effectivePolicy", () => {
  it("no overrides, an empty object or zeros: the defaults (6 digits, 10 min, 5 attempts, 600/min)", () => {
    const defaults = { codeLength: 6, codeTtlMs: 600_000, maxAttempts: 5, sendBudgetPerMinute: 600 };
    expect(DEFAULT_POLICY).toEqual(defaults);
    expect(effectivePolicy(undefined)).toEqual(defaults);
    expect(effectivePolicy({})).toEqual(defaults);
    expect(effectivePolicy({ codeLength: 0, codeTtlMs: 0, maxAttempts: 0, sendBudgetPerMinute: 0 })).toEqual(defaults);
  });

  it("values inside the bounds are kept, each field on its own", () => {
    expect(effectivePolicy({ codeLength: 8 })).toEqual({ ...DEFAULT_POLICY, codeLength: 8 });
    expect(effectivePolicy({ codeTtlMs: 300_000 })).toEqual({ ...DEFAULT_POLICY, codeTtlMs: 300_000 });
    expect(effectivePolicy({ maxAttempts: 7 })).toEqual({ ...DEFAULT_POLICY, maxAttempts: 7 });
    expect(effectivePolicy({ sendBudgetPerMinute: 42 })).toEqual({ ...DEFAULT_POLICY, sendBudgetPerMinute: 42 });
  });

  it("values outside the bounds are clamped to them; fractions are truncated", () => {
    expect(effectivePolicy({ codeLength: 4, codeTtlMs: 1_000, maxAttempts: 1, sendBudgetPerMinute: -5 })).toEqual({
      codeLength: 6,
      codeTtlMs: 120_000,
      maxAttempts: 3,
      sendBudgetPerMinute: 1,
    });
    expect(effectivePolicy({ codeLength: 12, codeTtlMs: 86_400_000, maxAttempts: 99, sendBudgetPerMinute: 10_000_000 })).toEqual({
      codeLength: 10,
      codeTtlMs: 1_800_000,
      maxAttempts: 10,
      sendBudgetPerMinute: 100_000,
    });
    expect(effectivePolicy({ codeLength: 7.9, maxAttempts: 4.5 })).toMatchObject({ codeLength: 7, maxAttempts: 4 });
    // The exact bounds are inside.
    expect(effectivePolicy({ codeLength: 6, codeTtlMs: 120_000, maxAttempts: 3, sendBudgetPerMinute: 1 })).toEqual({
      codeLength: 6,
      codeTtlMs: 120_000,
      maxAttempts: 3,
      sendBudgetPerMinute: 1,
    });
  });

  it("property: any integer overrides give a policy inside the bounds", () => {
    const int = fc.integer({ min: -2_000_000_000, max: 2_000_000_000 });
    fc.assert(
      fc.property(fc.record({ codeLength: int, codeTtlMs: int, maxAttempts: int, sendBudgetPerMinute: int }, { requiredKeys: [] }), (o) => {
        const p = effectivePolicy(o);
        for (const v of Object.values(p)) expect(Number.isInteger(v)).toBe(true);
        expect(p.codeLength).toBeGreaterThanOrEqual(6);
        expect(p.codeLength).toBeLessThanOrEqual(10);
        expect(p.codeTtlMs).toBeGreaterThanOrEqual(120_000);
        expect(p.codeTtlMs).toBeLessThanOrEqual(1_800_000);
        expect(p.maxAttempts).toBeGreaterThanOrEqual(3);
        expect(p.maxAttempts).toBeLessThanOrEqual(10);
        expect(p.sendBudgetPerMinute).toBeGreaterThanOrEqual(1);
        expect(p.sendBudgetPerMinute).toBeLessThanOrEqual(100_000);
        if (o.codeLength === undefined || o.codeLength === 0) expect(p.codeLength).toBe(DEFAULT_POLICY.codeLength);
      }),
    );
  });
});

describe("generateCode", () => {
  it("property: exactly `length` digits for lengths 6..10", () => {
    fc.assert(
      fc.property(fc.integer({ min: 6, max: 10 }), (length) => {
        const c = generateCode(length);
        expect(c).toHaveLength(length);
        expect(c).toMatch(/^[0-9]+$/);
      }),
      { numRuns: 500 },
    );
  });

  it("draws uniformly from the whole range 0 .. 10^length - 1 with crypto.randomInt", () => {
    for (let length = 6; length <= 10; length++) {
      generateCode(length);
      expect(crypto.randomInt).toHaveBeenLastCalledWith(0, 10 ** length);
    }
  });

  it("keeps leading zeros (small draws are padded, never shortened)", () => {
    const draw = vi.mocked(crypto.randomInt) as unknown as { mockReturnValueOnce(v: number): void };
    draw.mockReturnValueOnce(42);
    expect(generateCode(6)).toBe("000042");
    draw.mockReturnValueOnce(0);
    expect(generateCode(10)).toBe("0000000000");
    draw.mockReturnValueOnce(10 ** 8 - 1);
    expect(generateCode(8)).toBe("99999999");
    fc.assert(
      fc.property(fc.integer({ min: 6, max: 10 }), fc.integer({ min: 0, max: 99_999 }), (length, n) => {
        draw.mockReturnValueOnce(n);
        const c = generateCode(length);
        expect(c).toHaveLength(length);
        expect(Number(c)).toBe(n);
        expect(c.startsWith("0")).toBe(true);
      }),
    );
  });

  it("real draws: codes differ and some start with 0", () => {
    const codes = Array.from({ length: 2_000 }, () => generateCode(6));
    expect(new Set(codes).size).toBeGreaterThan(1_900);
    // P(no leading zero in 2000 draws) = 0.9^2000: never in practice.
    expect(codes.some((c) => c.startsWith("0"))).toBe(true);
  });
});

const bindingArb: fc.Arbitrary<CodeBinding> = fc.record({
  tenantId: fc.uuid(),
  customerId: fc.uuid(),
  channel: fc.constantFrom<Channel>("email", "phone"),
  destination: fc.oneof(fc.emailAddress(), fc.stringMatching(/^\+[1-9][0-9]{7,14}$/)),
});
const codeArb = fc.stringMatching(/^[0-9]{6,10}$/);

describe("hashCode", () => {
  it("is a 64-hex HMAC-SHA256, deterministic for one secret, binding and code", () => {
    fc.assert(
      fc.property(bindingArb, codeArb, (b, c) => {
        const h = hashCode(SECRET, b, c);
        expect(h).toMatch(/^[0-9a-f]{64}$/);
        expect(hashCode(SECRET, { ...b }, c)).toBe(h);
      }),
    );
  });

  it("property: differs when any of tenant, customer, channel, destination or code differs", () => {
    const field = fc.constantFrom("tenantId", "customerId", "channel", "destination", "code" as const);
    fc.assert(
      fc.property(bindingArb, codeArb, field, bindingArb, codeArb, (b, c, which, other, otherCode) => {
        const b2: CodeBinding =
          which === "code"
            ? b
            : which === "channel"
              ? { ...b, channel: b.channel === "email" ? "phone" : "email" }
              : { ...b, [which]: other[which] };
        const c2 = which === "code" ? otherCode : c;
        fc.pre(which === "channel" || (which === "code" ? c2 !== c : b2[which] !== b[which]));
        expect(hashCode(SECRET, b2, c2)).not.toBe(hashCode(SECRET, b, c));
      }),
      { numRuns: 500 },
    );
  });

  it("differs for another secret", () => {
    fc.assert(
      fc.property(bindingArb, codeArb, (b, c) => {
        expect(hashCode(Buffer.alloc(32, 8), b, c)).not.toBe(hashCode(SECRET, b, c));
      }),
    );
  });

  it("hashDestination: 32 hex, binds tenant and channel, ignores the customer", () => {
    const b = { tenantId: "t1", channel: "email" as const, destination: "jane@example.com" };
    const h = hashDestination(SECRET, b);
    expect(h).toMatch(/^[0-9a-f]{32}$/);
    expect(hashDestination(SECRET, { ...b })).toBe(h);
    expect(hashDestination(SECRET, { ...b, tenantId: "t2" })).not.toBe(h);
    expect(hashDestination(SECRET, { ...b, channel: "phone" })).not.toBe(h);
    expect(hashDestination(SECRET, { ...b, destination: "john@example.com" })).not.toBe(h);
  });
});

describe("sameHash", () => {
  const h = (s: string) => hashCode(SECRET, { tenantId: "t", customerId: "c", channel: "email", destination: "d@example.com" }, s);

  it("true for equal hashes (also distinct string objects)", () => {
    expect(sameHash(h("123456"), h("123456"))).toBe(true);
    expect(sameHash(h("123456"), `${h("123456").slice(0, 32)}${h("123456").slice(32)}`)).toBe(true);
  });

  it("false for different hashes, including a single changed digit", () => {
    expect(sameHash(h("123456"), h("123457"))).toBe(false);
    const a = h("000000");
    const flipped = `${a.slice(0, -1)}${a.endsWith("0") ? "1" : "0"}`;
    expect(sameHash(a, flipped)).toBe(false);
  });

  it("false for different lengths and for empty input (never throws)", () => {
    const a = h("123456");
    expect(sameHash(a, a.slice(0, 62))).toBe(false);
    expect(sameHash(a.slice(0, 62), a)).toBe(false);
    expect(sameHash(a, `${a}00`)).toBe(false);
    expect(sameHash("", "")).toBe(false);
    expect(sameHash(a, "")).toBe(false);
    expect(sameHash("", a)).toBe(false);
  });

  it("property: agrees with string equality on 64-hex hashes", () => {
    const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
    fc.assert(
      fc.property(hex64, hex64, (x, y) => {
        expect(sameHash(x, y)).toBe(x === y);
        expect(sameHash(x, x)).toBe(true);
      }),
    );
  });
});

describe("maskDestination", () => {
  it("the documented email example: jane@example.com -> j***@example.com", () => {
    expect(maskDestination("email", "jane@example.com")).toBe("j***@example.com");
  });

  // policy.ts documents "+447911123456" -> "+44*******56" (seven stars; the proto's example
  // "+44*******89" has seven too), but the code prints one star per hidden digit: eight here.
  it("the documented phone example: +447911123456 -> +44*******56", () => {
    expect(maskDestination("phone", "+447911123456")).toBe("+44*******56");
  });

  it("emails keep the first character and the domain only", () => {
    expect(maskDestination("email", "a@b.io")).toBe("a***@b.io");
    expect(maskDestination("email", "john.smith+tag@mail.example.org")).toBe("j***@mail.example.org");
    // Unusual input never leaks the local part.
    expect(maskDestination("email", "no-at-sign")).toBe("***");
    expect(maskDestination("email", "@example.com")).toBe("***");
  });

  it("phone numbers keep the first three and last two characters behind a fixed run of 7 stars (length hidden)", () => {
    expect(maskDestination("phone", "+14155552671")).toBe("+14*******71");
    expect(maskDestination("phone", "+4915123456789")).toBe("+49*******89");
    expect(maskDestination("phone", "12345")).toBe("*******");
    fc.assert(
      fc.property(fc.stringMatching(/^\+[1-9][0-9]{7,14}$/), (p) => {
        const m = maskDestination("phone", p);
        expect(m.slice(0, 3)).toBe(p.slice(0, 3));
        expect(m.slice(-2)).toBe(p.slice(-2));
        expect(m.slice(3, -2)).toBe("*******");
      }),
    );
  });
});
