// Protobuf side of idempotent creates: the key of a request (its request_id, method and a
// fingerprint of the rest of the body) and a codec that stores the response as protobuf binary.
import { createHash } from "node:crypto";
import { clone, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Codec, IdempotencyKey } from "../db/idempotency.js";
import { encodeAndRemember } from "./encode-once.js";
import type { Call } from "./pipeline.js";

/** undefined when the request has no request_id (then the call is simply not idempotent). */
export function idempotencyKey(call: Call, scope: string, requestId: string): IdempotencyKey | undefined {
  if (requestId === "") return undefined;
  // The body without its request_id: cleared on the request itself for the encoding (no clone:
  // the clone cost as much as the encoding), then put back.
  const body = call.message as unknown as { requestId: string };
  const own = body.requestId;
  body.requestId = "";
  let bytes: Uint8Array;
  try {
    bytes = toBinary(call.method.input, call.message);
  } finally {
    body.requestId = own;
  }
  const hash = createHash("sha256").update(bytes);
  // A session token's retries replay its own responses only: another session (of the same
  // tenant) repeating its request_id and body gets REQUEST_ID_REUSED, not that customer.
  const session = call.principal?.kind === "tenant" ? call.principal.session : undefined;
  if (session !== undefined) hash.update(`session:${session.id}`);
  return {
    scope,
    requestId: requestId.toLowerCase(),
    method: `${call.method.parent.typeName}/${call.method.name}`,
    fingerprint: hash.digest("hex"),
  };
}

/** Stores responses as protobuf binary; `redact` removes what must not be stored (secrets) from
 * a clone. Without it the stored bytes are the reply's own (encode-once.ts: sent as they are). */
export function protoCodec<D extends DescMessage>(schema: D, redact?: (m: MessageShape<D>) => MessageShape<D>): Codec<MessageShape<D>> {
  return {
    encode: (value) => (redact === undefined ? encodeAndRemember(schema, value) : toBinary(schema, redact(clone(schema, value)))),
    decode: (bytes) => fromBinary(schema, bytes),
  };
}
