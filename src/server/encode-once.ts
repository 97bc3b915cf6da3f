// A response's protobuf encoding, computed once. An idempotent write encodes its response to
// store it (db/idempotency.ts); the gRPC and Connect fast paths then send those same bytes instead
// of encoding the message a second time (toBinary was the largest single cost of CreateCustomer
// in a CPU profile). Responses are not changed once built, and a stored copy that must differ
// from the reply (a redacted secret) is encoded from a clone, never cached for the original.
import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

const encoded = new WeakMap<object, Uint8Array>();

export function encodeOnce<D extends DescMessage>(schema: D, message: MessageShape<D>): Uint8Array {
  let bytes = encoded.get(message);
  if (bytes === undefined) {
    bytes = toBinary(schema, message);
    encoded.set(message, bytes);
  }
  return bytes;
}
