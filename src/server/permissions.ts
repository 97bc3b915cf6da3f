// What each tenant RPC requires of an API key's scopes (least privilege: a read-only key for a
// reporting job cannot change customers; a "verify" key for the front end's code screen cannot
// list customers). One table, checked by a test against every method of the services.
import type { DescMethod } from "@bufbuild/protobuf";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { VerificationService } from "../../gen/finhub/customer/v1/verification_service_pb.js";
import type { ApiKeyScope } from "../tenants/tenant.entity.js";

const READS = new Set(["GetCustomer", "GetCustomerRequirements", "ListCustomers", "ListCustomerEvents", "WatchCustomerEvents"]);

/** The scope a tenant RPC needs; undefined for a method of no tenant service (refused). */
export function requiredScope(method: DescMethod): ApiKeyScope | undefined {
  if (method.parent.typeName === VerificationService.typeName) return "verify";
  if (method.parent.typeName === CustomerService.typeName) return READS.has(method.name) ? "read" : "write";
  return undefined;
}
