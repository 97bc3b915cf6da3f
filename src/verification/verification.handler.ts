// finhub.customer.v1.VerificationService: protobuf <-> verification use cases.
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  StartEmailVerificationResponseSchema,
  StartPhoneVerificationResponseSchema,
  type VerificationService as VerificationServiceDesc,
} from "../../gen/finhub/customer/v1/verification_service_pb.js";
import { toProto, type CustomerData } from "../customers/customer.handler.js";
import type { CustomerService } from "../customers/customer.service.js";
import { runIdempotent } from "../db/idempotency.js";
import { idempotencyKey, protoCodec } from "../server/idempotency.js";
import { tenantCall, type Call, type UnaryHandlers } from "../server/pipeline.js";
import type { Channel } from "./policy.js";
import type { StartResult, VerificationService } from "./verification.service.js";


const toResponse = (r: StartResult) => ({
  expireTime: timestampFromDate(r.expireTime),
  resendTime: timestampFromDate(r.resendTime),
  destination: r.destination,
  codeLength: r.codeLength,
});

export function verificationHandlers(
  data: CustomerData,
  verification: VerificationService,
  customers: CustomerService,
): UnaryHandlers<typeof VerificationServiceDesc> {
  function starter<D extends DescMessage>(schema: D, channel: Channel) {
    const codec = protoCodec(schema);
    return async (call: Call, customerId: string, requestId: string): Promise<MessageShape<D>> => {
      const { tenantId } = tenantCall(call);
      return runIdempotent(
        data.scopes.tenant(tenantId, call.deadline),
        idempotencyKey(call, tenantId, requestId),
        codec,
        async (em) => create(schema, toResponse(await verification.start(em, tenantId, customerId, channel)) as never),
        // Tied to the customer: erasing it deletes the stored reply (masked contacts).
        { protect: (em) => data.keys.forTenant(em, tenantId), resourceOf: () => customerId },
      );
    };
  }
  const startEmail = starter(StartEmailVerificationResponseSchema, "email");
  const startPhone = starter(StartPhoneVerificationResponseSchema, "phone");
  const verify = async (call: Call, customerId: string, code: string, channel: Channel) => {
    const { tenantId, actor } = tenantCall(call);
    return data.scopes.tenant(tenantId, call.deadline)(async (em) => {
      const customer = await verification.verify(em, tenantId, customerId, channel, code, actor);
      return { customer: await toProto(customers, customer, em) };
    });
  };
  return {
    startEmailVerification: (req, call) => startEmail(call, req.customerId, req.requestId),
    startPhoneVerification: (req, call) => startPhone(call, req.customerId, req.requestId),
    verifyEmail: (req, call) => verify(call, req.customerId, req.code, "email"),
    verifyPhone: (req, call) => verify(call, req.customerId, req.code, "phone"),
  };
}
