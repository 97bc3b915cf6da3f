// Everything the one port serves, as one Node request handler: TenantService (admin token),
// CustomerService (tenant API key), health and reflection, behind CORS.
import { createContextValues, type ConnectRouter } from "@connectrpc/connect";
import type { Tracer } from "@opentelemetry/api";
import { CustomerService as CustomerServiceDesc, file_finhub_customer_v1_customer_service } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import {
  VerificationService as VerificationServiceDesc,
  file_finhub_customer_v1_verification_service,
} from "../../gen/finhub/customer/v1/verification_service_pb.js";
import { TenantService as TenantServiceDesc, file_finhub_tenant_v1_tenant_service } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import type { Config } from "../config.js";
import { customerHandlers, type CustomerData } from "../customers/customer.handler.js";
import type { CustomerService } from "../customers/customer.service.js";
import { verificationHandlers } from "../verification/verification.handler.js";
import type { EventService } from "../events/event.service.js";
import type { VerificationService } from "../verification/verification.service.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { tenantHandlers } from "../tenants/tenant.handler.js";
import type { TenantService } from "../tenants/tenant.service.js";
import type { SessionService } from "../tenants/session.service.js";
import { authMiddleware, type Audience, type Credentials } from "./auth.js";
import type { AuthFailures } from "./auth-failures.js";
import { guardedConnectNodeAdapter } from "./connect-adapter.js";
import { withCors, type CorsOrigins } from "./cors.js";
import { deadlineMiddleware } from "./deadline.js";
import { errorMapper, errorMiddleware } from "./errors.js";
import { healthRunners, registerHealth, type HealthMonitor } from "./health.js";
import { loggingMiddleware } from "./logging.js";
import { bindRunners, methodRunners, PEER_ADDRESS, type Middleware } from "./pipeline.js";
import { grpcFastPath } from "./grpc-fast.js";
import { connectFastPath } from "./connect-fast.js";
import { registerReflection } from "./reflection.js";
import { sessionGuardMiddleware } from "./session-guard.js";
import { tracingMiddleware } from "./tracing.js";
import { validationMiddleware } from "./validation.js";

/** Each served service and the dependencies its health follows. */
export const SERVICE_DEPENDENCIES: Readonly<Record<string, readonly string[]>> = {
  [CustomerServiceDesc.typeName]: ["database"],
  [TenantServiceDesc.typeName]: ["database"],
  [VerificationServiceDesc.typeName]: ["database", "redis"],
};

export interface RouteDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly data: CustomerData;
  readonly authFailures: AuthFailures;
  readonly adminToken: string;
  readonly tenants: TenantService;
  readonly sessions: SessionService;
  readonly customers: CustomerService;
  readonly verification: VerificationService;
  readonly events: EventService;
  /** Aborted at the start of shutdown: event streams end with UNAVAILABLE. */
  readonly streamsShutdown: AbortSignal;
  readonly health: HealthMonitor;
  readonly cors: CorsOrigins;
  readonly shutdownSignal: AbortSignal;
  readonly metrics: Metrics;
  /** Set when OpenTelemetry tracing is on: one server span per RPC. */
  readonly tracer?: Tracer | undefined;
}

/** Strict JSON: an unknown field or enum name is INVALID_ARGUMENT, not silently dropped. */
const JSON_OPTIONS = { ignoreUnknownFields: false } as const;

export function createHandler(deps: RouteDeps) {
  const { config, logger } = deps;
  const shared = {
    logging: loggingMiddleware(logger, deps.metrics),
    errors: errorMiddleware(logger),
    validation: validationMiddleware(),
    sessionGuard: sessionGuardMiddleware(),
    tracing: deps.tracer ? [tracingMiddleware(deps.tracer)] : [],
  };
  const credentials: Credentials = {
    adminToken: deps.adminToken,
    keys: deps.tenants,
    sessions: deps.sessions,
    tenantOrigins: async (tenantId) => [...config.corsOrigins, ...((await deps.tenants.profile(tenantId)).settings.corsOrigins ?? [])],
    failures: deps.authFailures,
  };
  const mapStreamError = errorMapper(logger);
  // Order matters: log the final code; map errors; bound time; authenticate before validating
  // (an unauthenticated caller learns nothing about the request shape); a session token's
  // customer is compared once the request is known to be well formed.
  const chain = (audience: Audience): Middleware[] => [
    ...shared.tracing,
    shared.logging,
    shared.errors,
    deadlineMiddleware(config.maxDeadlineMs),
    authMiddleware(audience, credentials),
    shared.validation,
    shared.sessionGuard,
  ];
  // Built once, served by both transports: connect-node (every protocol) and the gRPC fast path.
  const services = [
    {
      desc: TenantServiceDesc,
      runners: methodRunners(TenantServiceDesc, tenantHandlers(deps.data.scopes, deps.tenants, () => deps.cors.invalidate()), chain("admin")),
    },
    {
      desc: CustomerServiceDesc,
      runners: methodRunners(
        CustomerServiceDesc,
        customerHandlers(deps.data, deps.customers, deps.events, deps.sessions, {
          heartbeatMs: config.streamHeartbeatMs,
          pollMs: 1_000,
          shutdown: deps.streamsShutdown,
          observe: {
            opened: () => deps.metrics.streamsOpen.inc(),
            closed: () => deps.metrics.streamsOpen.dec(),
            delivered: (time) => deps.metrics.eventDelivered(time),
          },
        }),
        chain("tenant"),
        mapStreamError,
      ),
    },
    {
      desc: VerificationServiceDesc,
      runners: methodRunners(VerificationServiceDesc, verificationHandlers(deps.data, deps.verification, deps.customers), chain("tenant")),
    },
  ];
  const routes = (router: ConnectRouter) => {
    for (const s of services) bindRunners(router, s.desc, s.runners);
    registerHealth(router, deps.health);
    registerReflection(router, [
      file_finhub_customer_v1_customer_service,
      file_finhub_customer_v1_verification_service,
      file_finhub_tenant_v1_tenant_service,
      file_grpc_health_v1_health,
    ]);
  };
  // connect-node, with undecodable and over-limit bodies refused precisely (connect-adapter.ts).
  const handler = guardedConnectNodeAdapter({
    routes,
    mapError: (err) => mapStreamError(err),
    jsonOptions: JSON_OPTIONS,
    readMaxBytes: config.maxMessageBytes,
    writeMaxBytes: config.maxMessageBytes,
    shutdownSignal: deps.shutdownSignal,
    contextValues: (req) => createContextValues().set(PEER_ADDRESS, req.socket?.remoteAddress ?? ""),
  });
  // Connect unary POSTs to our services on the lean path (connect-fast.ts), the rest on connect-node.
  const connectFast = config.connectFastPath
    ? connectFastPath(
        services.flatMap((s) => s.runners),
        { maxMessageBytes: config.maxMessageBytes, maxTimeoutMs: config.maxDeadlineMs, jsonOptions: JSON_OPTIONS, toConnectError: mapStreamError },
      )
    : undefined;
  const served = withCors(deps.cors.isAllowed, (req, res) => {
    if (connectFast?.(req, res) !== true) handler(req, res);
  });
  const http = (req: Parameters<typeof served>[0], res: Parameters<typeof served>[1]) => {
    // Prometheus scrapes GET /metrics on the same port (plain HTTP, no credentials: counts and
    // latencies only, no tenant or personal data in any label).
    if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
      deps.metrics.render().then(
        ({ contentType, body }) => {
          res.setHeader("content-type", contentType);
          res.end(body);
        },
        (err: Error) => {
          logger.error({ err: err.message }, "could not render metrics");
          res.statusCode = 500;
          res.end();
        },
      );
      return;
    }
    served(req, res);
  };
  const grpcStream = config.grpcFastPath
    ? grpcFastPath(
        [...services.flatMap((s) => s.runners), ...healthRunners(deps.health)],
        { maxMessageBytes: config.maxMessageBytes, maxTimeoutMs: config.maxDeadlineMs, toConnectError: mapStreamError },
      )
    : undefined;
  return { http, grpcStream };
}
