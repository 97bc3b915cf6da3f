// AIP-158 paging helpers: page_size defaults and opaque page tokens (base64url JSON of a keyset
// cursor). A token that does not decode is INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN.
import { invalidArgument } from "../errors.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** page_size 0 means the default; validation already refused negatives and > MAX_PAGE_SIZE. */
export function pageSize(requested: number): number {
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

export interface Cursor {
  readonly t: string;
  readonly i: string;
}

/** `scope` binds the token to what it pages over (e.g. tenant + filters): a token used with
 * another scope is refused. */
export function encodePageToken(cursor: Cursor, scope = ""): string {
  return Buffer.from(JSON.stringify({ ...cursor, s: scope })).toString("base64url");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function decodePageToken(token: string, field: string, scope = ""): Cursor | undefined {
  if (token === "") return undefined;
  let parsed: { t?: unknown; i?: unknown; s?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    // not ours
  }
  const valid =
    typeof parsed === "object" &&
    parsed !== null &&
    typeof parsed.t === "string" &&
    !Number.isNaN(new Date(parsed.t).getTime()) &&
    typeof parsed.i === "string" &&
    UUID.test(parsed.i);
  if (!valid) {
    throw invalidArgument([{ field, ruleId: "page_token.valid", message: "is not a token issued by this service" }], "INVALID_PAGE_TOKEN");
  }
  if ((parsed!.s ?? "") !== scope) {
    throw invalidArgument(
      [{ field, ruleId: "page_token.scope", message: "was issued for other filters or another tenant; start again without a token" }],
      "INVALID_PAGE_TOKEN",
    );
  }
  return { t: parsed!.t as string, i: parsed!.i as string };
}
