// gRPC server reflection (grpc.reflection.v1 and v1alpha) for a Connect-ES v2 router.
// Tools such as grpcurl, buf curl and Postman discover services and schemas through it.
// The logic is written once against a version-neutral request/response shape; the two
// versions only differ in their message type names.
import { create, createRegistry, toBinary, type DescEnum, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The request fields both reflection versions share (v1 and v1alpha are wire- and shape-identical). */
type ReflectionRequest = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;

/** Version-neutral `message_response` oneof, usable as init shape for either version's response. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Immutable index over the exposed files and all their transitive dependencies. */
class ReflectionIndex {
  private readonly filesByName = new Map<string, DescFile>();
  private readonly fileBySymbol = new Map<string, DescFile>();
  private readonly serialized = new Map<DescFile, Uint8Array>();
  private readonly registry;
  readonly serviceNames: string[];

  constructor(files: readonly DescFile[]) {
    const services = new Set<string>();
    for (const file of files) {
      this.addFile(file);
      for (const service of file.services) services.add(service.typeName);
    }
    this.serviceNames = [...services];
    this.registry = createRegistry(...this.filesByName.values());
  }

  private addFile(file: DescFile): void {
    if (this.filesByName.has(file.proto.name)) return;
    this.filesByName.set(file.proto.name, file);
    for (const dep of file.dependencies) this.addFile(dep);
    for (const message of file.messages) this.indexMessage(message, file);
    for (const enumeration of file.enums) this.indexEnum(enumeration, file);
    for (const ext of file.extensions) this.addSymbol(ext.typeName, file);
    for (const service of file.services) {
      this.addSymbol(service.typeName, file);
      for (const method of service.methods) this.addSymbol(`${service.typeName}.${method.name}`, file);
    }
  }

  private indexMessage(message: DescMessage, file: DescFile): void {
    this.addSymbol(message.typeName, file);
    for (const field of message.fields) this.addSymbol(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) this.addSymbol(`${message.typeName}.${oneof.name}`, file);
    for (const ext of message.nestedExtensions) this.addSymbol(ext.typeName, file);
    for (const nested of message.nestedMessages) this.indexMessage(nested, file);
    for (const nested of message.nestedEnums) this.indexEnum(nested, file);
  }

  private indexEnum(enumeration: DescEnum, file: DescFile): void {
    this.addSymbol(enumeration.typeName, file);
    // Protobuf scopes enum values as siblings of their enum ("pkg.VALUE"); also accept "pkg.Enum.VALUE".
    const scope = enumeration.typeName.includes(".")
      ? enumeration.typeName.slice(0, enumeration.typeName.lastIndexOf(".") + 1)
      : "";
    for (const value of enumeration.values) {
      this.addSymbol(`${scope}${value.name}`, file);
      this.addSymbol(`${enumeration.typeName}.${value.name}`, file);
    }
  }

  private addSymbol(name: string, file: DescFile): void {
    if (!this.fileBySymbol.has(name)) this.fileBySymbol.set(name, file);
  }

  fileByName(name: string): DescFile | undefined {
    return this.filesByName.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.fileBySymbol.get(symbol.startsWith(".") ? symbol.slice(1) : symbol);
  }

  extension(containingType: string, extensionNumber: number) {
    const extendee = this.registry.getMessage(containingType);
    return extendee ? this.registry.getExtensionFor(extendee, extensionNumber) : undefined;
  }

  hasMessage(typeName: string): boolean {
    return this.registry.getMessage(typeName) !== undefined;
  }

  extensionNumbersOf(typeName: string): number[] {
    const numbers: number[] = [];
    for (const desc of this.registry) {
      if (desc.kind === "extension" && desc.extendee.typeName === typeName) numbers.push(desc.number);
    }
    return numbers.sort((a, b) => a - b);
  }

  /** The file first, then each of its transitive dependencies exactly once. */
  withDependencies(file: DescFile): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const queue: DescFile[] = [file];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (seen.has(next.proto.name)) continue;
      seen.add(next.proto.name);
      out.push(this.bytes(next));
      queue.push(...next.dependencies);
    }
    return out;
  }

  private bytes(file: DescFile): Uint8Array {
    let bytes = this.serialized.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.serialized.set(file, bytes);
    }
    return bytes;
  }
}

function notFound(message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

function fileAnswer(index: ReflectionIndex, file: DescFile | undefined, what: string): ReflectionAnswer {
  return file
    ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withDependencies(file) } }
    : notFound(`${what} not found`);
}

function answer(index: ReflectionIndex, req: ReflectionRequest): ReflectionAnswer {
  const msg = req.messageRequest;
  switch (msg.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.serviceNames.map((name) => ({ name })) } };
    case "fileByFilename":
      return fileAnswer(index, index.fileByName(msg.value), `file "${msg.value}"`);
    case "fileContainingSymbol":
      return fileAnswer(index, index.fileContainingSymbol(msg.value), `symbol "${msg.value}"`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = msg.value;
      const ext = index.extension(containingType, extensionNumber);
      return fileAnswer(index, ext?.file, `extension ${extensionNumber} of "${containingType}"`);
    }
    case "allExtensionNumbersOfType":
      return index.hasMessage(msg.value)
        ? {
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: msg.value, extensionNumber: index.extensionNumbersOf(msg.value) },
          }
        : notFound(`type "${msg.value}" not found`);
    default:
      return {
        case: "errorResponse",
        value: { errorCode: Code.InvalidArgument, errorMessage: "message_request not set or not supported" },
      };
  }
}

async function* respond<Req extends ReflectionRequest, Res>(
  requests: AsyncIterable<Req>,
  index: ReflectionIndex,
  build: (req: Req, messageResponse: ReflectionAnswer) => Res,
): AsyncGenerator<Res> {
  for await (const req of requests) {
    yield build(req, answer(index, req));
  }
}

/**
 * Registers grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection on
 * `router`, describing the services declared in `files` (plus the reflection services themselves)
 * and every file they transitively import.
 */
export function registerReflection(router: ConnectRouter, files: readonly DescFile[]): void {
  const index = new ReflectionIndex([
    ...files,
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  router.service(v1.ServerReflection, {
    serverReflectionInfo: (requests) =>
      respond(requests, index, (req, messageResponse) =>
        create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse }),
      ),
  });
  router.service(v1alpha.ServerReflection, {
    serverReflectionInfo: (requests) =>
      respond(requests, index, (req, messageResponse) =>
        create(v1alpha.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse }),
      ),
  });
}
