// Builds the page into examples/web-onboarding/dist. The page imports the generated code from
// the repository's gen/ (outside this folder); its `.js` import suffixes resolve to the `.ts`
// sources, as Vite does for TypeScript importers.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  base: "./",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: { fs: { allow: [fileURLToPath(new URL("../..", import.meta.url))] } },
});
