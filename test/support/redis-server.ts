// A throwaway redis-server for tests that need their own Redis (to kill it, or to run where the
// run has none): a child process on a spare port of 127.0.0.1, nothing persisted
// (--save "" --appendonly no), so a stop loses every key, as a crashed cache node does.
//
//   const redis = await startRedisServer();   // redis.url = redis://127.0.0.1:<port>
//   await redis.stop();                        // SIGKILL by default; resolves once it has exited
//   await redis.start();                       // again, on the same port, empty
//   await redis.stop();                        // in afterAll
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** Whether the process is running (started and not yet exited). */
  readonly running: boolean;
  /** Starts it again on the same port (no-op while running); resolves once PING answers. */
  start(): Promise<void>;
  /** Kills it (SIGKILL: an abrupt loss; SIGTERM: an orderly one) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** What the server wrote to stdout/stderr (for failure messages). */
  output(): string;
}

const HOST = "127.0.0.1";

/** A port that was free a moment ago (the kernel's choice for port 0). */
async function sparePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One PING over a raw socket: true when "+PONG" comes back within timeoutMs. */
function pings(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d: Buffer) => {
      reply += d.toString("latin1");
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

class ChildRedis implements RedisServer {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = "";

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  output(): string {
    return this.log;
  }

  async start(timeoutMs = 10_000): Promise<void> {
    if (this.proc !== undefined) return;
    const proc = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", HOST, "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.proc = proc;
    proc.stdout!.on("data", (d: Buffer) => (this.log += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (this.log += d.toString()));
    let gone: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      proc.once("error", (err) => {
        gone = `failed to start: ${err.message}`;
        if (this.proc === proc) this.proc = undefined;
        resolve();
      });
      proc.once("exit", (code, signal) => {
        gone = `exited (${code ?? signal})`;
        if (this.proc === proc) this.proc = undefined;
        resolve();
      });
    });
    // Bounded wait for the first PONG.
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; Date.now() < deadline && i < 1_000; i++) {
      if (gone !== undefined) break;
      if (await pings(this.port, 500)) return;
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 25))]);
    }
    const why = gone ?? `no PONG within ${timeoutMs} ms`;
    await this.stop();
    throw new Error(`redis-server on ${HOST}:${this.port}: ${why}\n${this.log}`);
  }

  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = this.proc;
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await this.exited;
  }
}

/** Starts a redis-server on a spare port (tries a few ports if one is taken meanwhile). */
export async function startRedisServer(): Promise<RedisServer> {
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const server = new ChildRedis(await sparePort());
    try {
      await server.start();
      return server;
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
