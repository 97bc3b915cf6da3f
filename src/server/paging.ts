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

export function encodePageToken(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function decodePageToken(token: string, field: string): Cursor | undefined {
  if (token === "") return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as Cursor).t === "string" &&
      typeof (parsed as Cursor).i === "string" &&
      UUID.test((parsed as Cursor).i)
    ) {
      return { t: (parsed as Cursor).t, i: (parsed as Cursor).i };
    }
  } catch {
    // fall through
  }
  throw invalidArgument(
    [{ field, ruleId: "page_token.valid", message: "is not a token issued by this service" }],
    "INVALID_PAGE_TOKEN",
  );
}
