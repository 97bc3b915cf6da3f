// protobuf-es's implicit-presence test for a scalar field (reflect/unsafe.ts unsafeIsSet, through
// reflect/scalar.ts isScalarZeroValue) as JavaScript source over `v`, shared by the compiled
// codecs (proto-binary.ts, proto-json.ts) so that both skip exactly the values protobuf-es skips.
import { ScalarType } from "@bufbuild/protobuf";

/** Source of an expression that is true when `v`, a scalar of type `scalar`, is not its zero. */
export function scalarSetSource(scalar: ScalarType): string {
  switch (scalar) {
    case ScalarType.BOOL:
      return "v !== false";
    case ScalarType.STRING:
      return 'v !== ""';
    case ScalarType.BYTES:
      return "!(v instanceof Uint8Array && v.byteLength === 0)";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "!Object.is(v, 0)"; // -0 is set
    default:
      return "v != 0"; // loose, as protobuf-es's: 0, 0n and "0" are all zero
  }
}
