// What the compiled protobuf code (proto-binary.ts, proto-create.ts, proto-json.ts) shares about
// protobuf-es's descriptors and messages, so that the three plan alike: the presence constants,
// the types protobuf-es represents unboxed, and its implicit-presence test for scalars.
import { ScalarType } from "@bufbuild/protobuf";

/** google.protobuf.FeatureSet.FieldPresence: IMPLICIT and LEGACY_REQUIRED. */
export const IMPLICIT = 2;
export const LEGACY_REQUIRED = 3;

/** The wrapper and Struct types, which protobuf-es represents unboxed (a wrapper field holds the
 * plain value, a Struct field a JSON object): none of the compiled plans handles them. */
export const UNBOXED_TYPES = /^google\.protobuf\.(Struct|Value|ListValue|(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value)$/;

/** protobuf-es's implicit-presence test for a scalar field (reflect/unsafe.ts unsafeIsSet,
 * through reflect/scalar.ts isScalarZeroValue) as JavaScript source over `v`: true when `v`, a
 * scalar of type `scalar`, is not its zero, so that the codecs skip exactly what protobuf-es skips. */
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
