// A @grpc/grpc-js client built from proto/ with @grpc/proto-loader, independent of gen/: what
// an internal FinHub service written against the .proto files sees. Error details are decoded
// from grpc-status-details-bin with protobufjs and google/rpc/status.proto.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);
const googleProtos = dirname(require.resolve("google-proto-files/package.json"));

const definition = protoLoader.loadSync(
  [
    "finhub/customer/v1/customer_service.proto",
    "finhub/customer/v1/verification_service.proto",
    "finhub/tenant/v1/tenant_service.proto",
    "grpc/health/v1/health.proto",
  ],
  {
    includeDirs: [join(root, "proto"), join(root, "proto/vendor")],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  },
);
const loaded = grpc.loadPackageDefinition(definition) as any;

export type GrpcClient = grpc.Client & Record<string, any>;

export function grpcClients(port: number) {
  const address = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  return {
    customers: new loaded.finhub.customer.v1.CustomerService(address, creds) as GrpcClient,
    verification: new loaded.finhub.customer.v1.VerificationService(address, creds) as GrpcClient,
    tenants: new loaded.finhub.tenant.v1.TenantService(address, creds) as GrpcClient,
    health: new loaded.grpc.health.v1.Health(address, creds) as GrpcClient,
    close() {
      this.customers.close();
      this.verification.close();
      this.tenants.close();
      this.health.close();
    },
  };
}

export function metadata(headers: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return md;
}

/** Promise form of a unary call; rejects with the grpc ServiceError. */
export function unary<T = any>(
  client: GrpcClient,
  method: string,
  request: object,
  md: grpc.Metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, md, options, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** Calls and returns the error (fails the test if the call succeeded). */
export async function unaryError(
  client: GrpcClient,
  method: string,
  request: object,
  md?: grpc.Metadata,
  options?: grpc.CallOptions,
): Promise<grpc.ServiceError> {
  try {
    await unary(client, method, request, md, options);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded but an error was expected`);
}

const statusRoot = protobuf.loadSync(
  ["google/rpc/status.proto", "google/rpc/error_details.proto"].map((f) => join(googleProtos, f)),
);
const violationsRoot = protobuf.loadSync(join(root, "proto/vendor/buf/validate/validate.proto"));

export interface DecodedDetails {
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  /** google.rpc.RetryInfo delay in milliseconds, when the error has one. */
  retryDelayMs?: number;
  /** google.rpc.PreconditionFailure violations (e.g. what ActivateCustomer still needs). */
  preconditions: Array<{ type: string; subject: string; description: string }>;
  /** Field paths as dotted names, e.g. "customer.email". */
  violations: Array<{ field: string; ruleId: string; message: string }>;
  types: string[];
}

/** Decodes google.rpc.Status details from a grpc-js error's trailers. */
export function details(err: grpc.ServiceError): DecodedDetails {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  const out: DecodedDetails = { violations: [], preconditions: [], types: [] };
  if (!bin) return out;
  const Status = statusRoot.lookupType("google.rpc.Status");
  const status = Status.toObject(Status.decode(bin as Buffer), { defaults: true }) as any;
  for (const any of status.details ?? []) {
    const typeName = String(any.type_url ?? any.typeUrl).split("/").pop()!;
    out.types.push(typeName);
    if (typeName === "google.rpc.ErrorInfo") {
      const T = statusRoot.lookupType("google.rpc.ErrorInfo");
      out.errorInfo = T.toObject(T.decode(any.value), { defaults: true }) as any;
    } else if (typeName === "google.rpc.RetryInfo") {
      const T = statusRoot.lookupType("google.rpc.RetryInfo");
      const r = T.toObject(T.decode(any.value), { defaults: true, longs: String }) as any;
      out.retryDelayMs = Number(r.retryDelay?.seconds ?? 0) * 1000 + Math.floor(Number(r.retryDelay?.nanos ?? 0) / 1e6);
    } else if (typeName === "google.rpc.PreconditionFailure") {
      const T = statusRoot.lookupType("google.rpc.PreconditionFailure");
      out.preconditions.push(...((T.toObject(T.decode(any.value), { defaults: true }) as any).violations ?? []));
    } else if (typeName === "buf.validate.Violations") {
      const T = violationsRoot.lookupType("buf.validate.Violations");
      // oneofs: true tells an index subscript (e.subscript === "index") from an absent one.
      const v = T.toObject(T.decode(any.value), { oneofs: true, longs: String }) as any;
      for (const x of v.violations ?? []) {
        out.violations.push({
          // A list index renders as its own segment: "customer.business.representatives.1.id".
          field: (x.field?.elements ?? [])
            .map((e: any) => (e.index !== undefined && e.index !== null && e.subscript === "index" ? `${e.fieldName}.${e.index}` : e.fieldName))
            .join("."),
          ruleId: x.ruleId ?? "",
          message: x.message ?? "",
        });
      }
    }
  }
  return out;
}

/** The PreconditionFailure violations of a grpc-js error (empty when there are none). */
export function preconditionFailures(err: grpc.ServiceError): DecodedDetails["preconditions"] {
  return details(err).preconditions;
}

export { grpc };
