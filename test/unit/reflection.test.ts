import { describe, expect, it } from "vitest";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { registerReflection } from "../../src/server/reflection.js";
import { file_finhub_customer_v1_customer_service } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { file_finhub_tenant_v1_tenant_service } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

const transport = createRouterTransport((router) =>
  registerReflection(router, [file_finhub_customer_v1_customer_service, file_finhub_tenant_v1_tenant_service]),
);

// Version-neutral message_request (plain init objects, valid for both v1 and v1alpha).
type Req =
  | { case: "listServices" | "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } };

const versions = [
  {
    name: "v1",
    ask: async (messageRequests: Req[]) => {
      const client = createClient(v1.ServerReflection, transport);
      async function* reqs() {
        for (const messageRequest of messageRequests) {
          yield create(v1.ServerReflectionRequestSchema, { host: "example.test", messageRequest });
        }
      }
      const out: v1.ServerReflectionResponse[] = [];
      for await (const res of client.serverReflectionInfo(reqs())) out.push(res);
      return out;
    },
  },
  {
    name: "v1alpha",
    ask: async (messageRequests: Req[]) => {
      const client = createClient(v1alpha.ServerReflection, transport);
      async function* reqs() {
        for (const messageRequest of messageRequests) {
          yield create(v1alpha.ServerReflectionRequestSchema, { host: "example.test", messageRequest });
        }
      }
      const out: v1alpha.ServerReflectionResponse[] = [];
      for await (const res of client.serverReflectionInfo(reqs())) out.push(res);
      return out;
    },
  },
];

function fileNames(res: { messageResponse: { case: string | undefined; value?: unknown } }): string[] {
  expect(res.messageResponse.case).toBe("fileDescriptorResponse");
  const { fileDescriptorProto } = res.messageResponse.value as { fileDescriptorProto: Uint8Array[] };
  return fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

describe.each(versions)("server reflection $name", ({ ask }) => {
  it("lists the exposed services and the reflection services", async () => {
    const [res] = await ask([{ case: "listServices", value: "" }]);
    expect(res?.messageResponse.case).toBe("listServicesResponse");
    const names =
      res?.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
    expect(names).toEqual(
      expect.arrayContaining([
        "finhub.customer.v1.CustomerService",
        "finhub.tenant.v1.TenantService",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    expect(names).not.toContain("grpc.health.v1.Health");
  });

  it("answers file_containing_symbol with the file first, then each transitive dependency once", async () => {
    const [res] = await ask([{ case: "fileContainingSymbol", value: "finhub.customer.v1.CustomerService" }]);
    const names = fileNames(res!);
    expect(names[0]).toBe("finhub/customer/v1/customer_service.proto");
    expect(names).toEqual(
      expect.arrayContaining([
        "finhub/customer/v1/customer.proto",
        "google/protobuf/timestamp.proto",
        "buf/validate/validate.proto",
        "google/protobuf/descriptor.proto",
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain("finhub/tenant/v1/tenant_service.proto");
  });

  it("echoes host and original request", async () => {
    const [res] = await ask([{ case: "fileContainingSymbol", value: "finhub.customer.v1.Customer" }]);
    expect(res?.validHost).toBe("example.test");
    expect(res?.originalRequest?.messageRequest).toEqual({
      case: "fileContainingSymbol",
      value: "finhub.customer.v1.Customer",
    });
    expect(fileNames(res!)[0]).toBe("finhub/customer/v1/customer.proto");
  });

  it("resolves methods, fields and nested symbols", async () => {
    const responses = await ask([
      { case: "fileContainingSymbol", value: "finhub.customer.v1.CustomerService.GetCustomer" },
      { case: "fileContainingSymbol", value: "finhub.tenant.v1.TenantService" },
      { case: "fileContainingSymbol", value: "google.protobuf.Timestamp.seconds" },
    ]);
    expect(responses.map((r) => fileNames(r)[0])).toEqual([
      "finhub/customer/v1/customer_service.proto",
      "finhub/tenant/v1/tenant_service.proto",
      "google/protobuf/timestamp.proto",
    ]);
  });

  it("answers file_by_filename", async () => {
    const [res] = await ask([{ case: "fileByFilename", value: "finhub/customer/v1/customer.proto" }]);
    const names = fileNames(res!);
    expect(names[0]).toBe("finhub/customer/v1/customer.proto");
    expect(names).toContain("google/protobuf/timestamp.proto");
    expect(names).not.toContain("finhub/customer/v1/customer_service.proto");
  });

  it("returns NOT_FOUND error_response for unknown symbols and files, keeping the stream open", async () => {
    const responses = await ask([
      { case: "fileContainingSymbol", value: "finhub.nope.v1.Missing" },
      { case: "fileByFilename", value: "finhub/customer/v1/customer" },
      { case: "listServices", value: "" },
    ]);
    expect(responses).toHaveLength(3);
    for (const res of responses.slice(0, 2)) {
      expect(res.messageResponse.case).toBe("errorResponse");
      if (res.messageResponse.case === "errorResponse") {
        expect(res.messageResponse.value.errorCode).toBe(5);
        expect(res.messageResponse.value.errorMessage).not.toBe("");
      }
    }
    expect(responses[2]?.messageResponse.case).toBe("listServicesResponse");
  });

  it("answers extension queries from the registry", async () => {
    const responses = await ask([
      { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" },
      {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1159 },
      },
      {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 9 },
      },
      { case: "allExtensionNumbersOfType", value: "finhub.nope.v1.Missing" },
    ]);
    const [numbers, ext, unknownExt, unknownType] = responses;
    expect(numbers?.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "google.protobuf.FieldOptions", extensionNumber: expect.arrayContaining([1159]) },
    });
    expect(fileNames(ext!)[0]).toBe("buf/validate/validate.proto");
    expect(unknownExt?.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect(unknownType?.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
  });
});
