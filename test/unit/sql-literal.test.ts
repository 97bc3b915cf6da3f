// db/sql.ts literal: pg.escapeLiteral's output, byte for byte, on any string.
import fc from "fast-check";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { literal } from "../../src/db/sql.js";

describe("literal (SQL string literals, db/sql.ts)", () => {
  it("equals pg.escapeLiteral on any string, quotes and backslashes included", () => {
    const tricky = fc.stringMatching(/^[a-z'\\\u00e9\u0000 -]{0,20}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), tricky, fc.uuid()), (s) => {
        expect(literal(s)).toBe(pg.escapeLiteral(s));
      }),
      { numRuns: 3_000 },
    );
  });

  it("handles the edges as pg does", () => {
    for (const s of ["", "'", "\\", "O'Brien", "a\\b", "''", "x'; drop table customers; --", "2026-12-07T02:00:00.000Z", "1500"]) {
      expect(literal(s)).toBe(pg.escapeLiteral(s));
    }
    expect(literal("O'Brien")).toBe("'O''Brien'");
    expect(literal("a\\b")).toBe(" E'a\\\\b'");
  });
});
