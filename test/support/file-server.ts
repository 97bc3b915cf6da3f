// One server and its gRPC clients for a test file: started before its first test, closed after
// its last. Log lines (at the env's LOG_LEVEL; silent by default) are kept in `logs`.
import { afterAll, beforeAll } from "vitest";
import { startServer, type TestServer } from "./app.js";
import { grpcClients } from "./grpc.js";

export interface FileServer {
  readonly server: TestServer;
  readonly clients: ReturnType<typeof grpcClients>;
  readonly logs: string[];
}

/** Starts the file's server and clients before its tests and closes them after; `ready`
 * receives them (for files that keep their own `server` / `c` variables). Returns the log lines. */
export function withServer(
  env: Record<string, string>,
  ready: (server: TestServer, clients: ReturnType<typeof grpcClients>) => void,
): string[] {
  const logs: string[] = [];
  let server: TestServer | undefined;
  let clients: ReturnType<typeof grpcClients> | undefined;
  beforeAll(async () => {
    server = await startServer(env, { write: (line) => void logs.push(line) });
    clients = grpcClients(server.port);
    ready(server, clients);
  });
  afterAll(async () => {
    clients?.close();
    await server?.close();
  });
  return logs;
}

export function useServer(env: Record<string, string> = {}): FileServer {
  let server: TestServer | undefined;
  let clients: ReturnType<typeof grpcClients> | undefined;
  const logs = withServer(env, (s, c) => {
    server = s;
    clients = c;
  });
  return {
    get server() {
      if (server === undefined) throw new Error("useServer: the server starts in beforeAll");
      return server;
    },
    get clients() {
      if (clients === undefined) throw new Error("useServer: the clients start in beforeAll");
      return clients;
    },
    logs,
  };
}
