// A response's protobuf encoding, computed once. An idempotent write encodes its response to
// store it (db/idempotency.ts); the gRPC and Connect fast paths then send those same bytes instead
// of encoding the message a second time (toBinary was the largest single cost of CreateCustomer
// in a CPU profile). Responses are not changed once built, and a stored copy that must differ
// from the reply (a redacted secret) is encoded from a clone, never cached for the original.
//
// Only the idempotent writes remember their bytes (encodeAndRemember): every other reply is
// encoded without an entry in the WeakMap, whose entries cost the garbage collector extra work
// until the message dies (measured ~3 µs per entry in a micro-benchmark, on every GetCustomer).
//
// Both encode with encodeBinary (proto-binary.ts): toBinary's bytes, built in one buffer.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { encodeBinary } from "./proto-binary.js";

const encoded = new WeakMap<object, Uint8Array>();

/** Encodes `message` and remembers the bytes for `encoded` (the idempotent writes' codec). */
export function encodeAndRemember<D extends DescMessage>(schema: D, message: MessageShape<D>): Uint8Array {
  let bytes = encoded.get(message);
  if (bytes === undefined) {
    bytes = encodeBinary(schema, message);
    encoded.set(message, bytes);
  }
  return bytes;
}

/** The bytes remembered for `message`, else its encoding (not remembered): what a reply sends. */
export function encodeReply<D extends DescMessage>(schema: D, message: MessageShape<D>): Uint8Array {
  return encoded.get(message) ?? encodeBinary(schema, message);
}
