// Runs the service as a real child process (`npm start`, or its command line), the way a user
// does, and waits for its "listening" log line to learn the port.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Child {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once every process holding the pipes is gone. */
  readonly exited: Promise<number | string>;
}

/** The `start` script of package.json as argv (`node dist/src/main.js`): what `npm start` runs
 * after its prestart build. The global setups build dist/ once per run (scripts/build.ts). */
export function startCommand(): string[] {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: { start: string } };
  return pkg.scripts.start.trim().split(/\s+/);
}

/** The environment of a clean machine: none of the service's variables are inherited. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ["PATH", "HOME", "TMPDIR", "LANG"]) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

export function spawnService(command: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  // "close", not "exit": it waits for the pipes, which the service (npm's grandchild) holds
  // until it has exited too.
  const exited = new Promise<number | string>((resolve) =>
    proc.once("close", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** Waits (bounded) for the JSON log line that says the service listens; returns its port. */
export async function waitListening(child: Child, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of child.stdout().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg?.startsWith("customerms listening") && typeof entry.port === "number") return entry.port;
      } catch {
        // a partial line; read again
      }
    }
    const state = await Promise.race([child.exited, new Promise((r) => setTimeout(r, 100, "running"))]);
    if (state !== "running") {
      throw new Error(`service exited (${String(state)}) before listening:\n${child.stdout()}\n${child.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`service not listening after ${timeoutMs} ms:\n${child.stdout()}`);
  }
}

/** SIGTERM to the whole process group (npm -> sh -> node), as a terminal or container runtime
 * does, and wait for the exit. npm itself dies of the signal; the service logs "stopped" when
 * it drained and exited 0. */
export async function stop(child: Child): Promise<number | string> {
  if (child.proc.exitCode === null && child.proc.pid !== undefined) {
    try {
      process.kill(-child.proc.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  return child.exited;
}
