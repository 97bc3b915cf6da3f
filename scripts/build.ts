// `npm run build` (and `prestart`): transpiles src/**/*.ts and gen/**/*.ts file by file to dist/
// (dist/src/…, dist/gen/…) with esbuild, so production runs plain JavaScript with `node` — no tsx
// loader hooks and no esbuild child process in the service (docs/architecture.md §10).
//
// Not bundled: MikroORM and knex load their dialects with dynamic imports, and relative paths
// (MIGRATIONS_DIR from import.meta.url) keep working because the layout is preserved.
// Types are not checked here (that is `npm run lint`'s tsc); esbuild only strips them, exactly
// as tsx does during development, reading the same tsconfig.json.
//
// Source maps are written next to each file (`.js.map`, linked) but Node ignores them unless
// asked: `NODE_OPTIONS=--enable-source-maps npm start` maps stack traces back to the .ts lines.
// Off by default because mapping makes every `error.stack` expensive.
//
// A file is only rewritten when its content changed, and then atomically (temporary file +
// rename): a service already running from dist/ (another test file, the bench) never loads a
// half-written module. Files in dist/src and dist/gen that no source produces any more are removed.
import { readdir, readFile, rename, rm, writeFile, mkdir } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The folders compiled, relative to the repository (and to dist/). */
const SOURCE_DIRS = ["src", "gen"] as const;
export const DIST_DIR = join(repoRoot, "dist");

async function listFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  return names.map((name) => join(dir, name));
}

export interface BuildResult {
  readonly files: number;
  readonly written: number;
  readonly removed: number;
  readonly ms: number;
}

export async function build(): Promise<BuildResult> {
  const t0 = performance.now();
  const entryPoints: string[] = [];
  for (const dir of SOURCE_DIRS) {
    for (const file of await listFiles(join(repoRoot, dir))) {
      if (file.endsWith(".ts") && !file.endsWith(".d.ts")) entryPoints.push(file);
    }
  }
  entryPoints.sort();
  const result = await esbuild.build({
    absWorkingDir: repoRoot,
    entryPoints,
    outbase: repoRoot,
    outdir: DIST_DIR,
    bundle: false,
    format: "esm",
    platform: "node",
    target: "node20",
    tsconfig: join(repoRoot, "tsconfig.json"),
    sourcemap: "linked",
    write: false,
    logLevel: "warning",
  });

  const produced = new Set<string>();
  let written = 0;
  for (const out of result.outputFiles) {
    produced.add(out.path);
    const current = await readFile(out.path).catch(() => undefined);
    if (current !== undefined && Buffer.compare(current, out.contents) === 0) continue;
    await mkdir(dirname(out.path), { recursive: true });
    const tmp = `${out.path}.${process.pid}.tmp`;
    await writeFile(tmp, out.contents);
    await rename(tmp, out.path);
    written++;
  }

  let removed = 0;
  for (const dir of SOURCE_DIRS) {
    for (const file of await listFiles(join(DIST_DIR, dir))) {
      if (!/\.js(\.map)?$/.test(file) || produced.has(file)) continue;
      await rm(file, { force: true });
      removed++;
    }
  }
  return { files: result.outputFiles.length, written, removed, ms: Math.round(performance.now() - t0) };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = await build();
    process.stderr.write(
      `build: ${SOURCE_DIRS.join("/, ")}/ -> ${relative(process.cwd(), DIST_DIR)}/ in ${r.ms} ms (${r.files} files, ${r.written} written, ${r.removed} removed)\n`,
    );
  } catch (err) {
    // esbuild has already printed its errors (file:line) at logLevel "warning".
    process.stderr.write(`build failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}\n`);
    process.exitCode = 1;
  }
}

