// finhub.customer.v1.CustomerService: protobuf <-> customer use cases. The tenant always comes
// from the authenticated principal, never from the message.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  CustomerSchema,
  CustomerStatus as PbStatus,
  CustomerType as PbType,
  type Customer as PbCustomer,
} from "../../gen/finhub/customer/v1/customer_pb.js";
import {
  CreateCustomerResponseSchema,
  type CustomerService as CustomerServiceDesc,
} from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { runIdempotent } from "../db/idempotency.js";
import { idempotencyKey, protoCodec } from "../server/idempotency.js";
import { tenantOf, type UnaryHandlers } from "../server/pipeline.js";
import type { Customer, CustomerStatus, NewCustomer, Profile } from "./customer.js";
import type { CustomerService } from "./customer.service.js";

const STATUS: Record<CustomerStatus, PbStatus> = {
  pending: PbStatus.PENDING,
  active: PbStatus.ACTIVE,
  suspended: PbStatus.SUSPENDED,
  closed: PbStatus.CLOSED,
};

export function customerToProto(c: Customer): PbCustomer {
  const p = c.profile;
  return create(CustomerSchema, {
    id: c.id,
    type: p.kind === "individual" ? PbType.INDIVIDUAL : PbType.BUSINESS,
    status: STATUS[c.status],
    profile:
      p.kind === "individual"
        ? { case: "individual", value: { givenName: p.givenName, familyName: p.familyName } }
        : { case: "business", value: { legalName: p.legalName } },
    email: c.email,
    phoneNumber: c.phoneNumber ?? "",
    emailVerified: c.emailVerified,
    phoneVerified: c.phoneVerified,
    countryCode: c.countryCode,
    etag: String(c.version),
    createTime: timestampFromDate(c.createTime),
    updateTime: timestampFromDate(c.updateTime),
  });
}

/** The request was validated by protovalidate: a profile is set, fields have their shapes. */
function newCustomerFromProto(c: PbCustomer): NewCustomer {
  let profile: Profile;
  switch (c.profile.case) {
    case "individual":
      profile = { kind: "individual", givenName: c.profile.value.givenName, familyName: c.profile.value.familyName };
      break;
    case "business":
      profile = { kind: "business", legalName: c.profile.value.legalName };
      break;
    default:
      throw new Error("customer.profile is required (protovalidate should have refused this request)");
  }
  return {
    profile,
    email: c.email,
    phoneNumber: c.phoneNumber === "" ? null : c.phoneNumber,
    countryCode: c.countryCode,
  };
}

const createCustomerCodec = protoCodec(CreateCustomerResponseSchema);

export function customerHandlers(
  orm: MikroORM,
  customers: CustomerService,
): UnaryHandlers<typeof CustomerServiceDesc> {
  return {
    async createCustomer(req, call) {
      const tenantId = tenantOf(call);
      const input = newCustomerFromProto(req.customer!);
      const key = idempotencyKey(call, tenantId, req.requestId);
      return runIdempotent(orm.em.fork(), key, createCustomerCodec, async (em) =>
        create(CreateCustomerResponseSchema, { customer: customerToProto(await customers.create(em, tenantId, input)) }),
      );
    },

    async getCustomer(req, call) {
      const customer = await customers.get(orm.em.fork(), tenantOf(call), req.id);
      return { customer: customerToProto(customer) };
    },
  };
}
