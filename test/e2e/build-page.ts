// Once per e2e run: build examples/web-onboarding with its Vite config (into its dist/).
import { fileURLToPath } from "node:url";
import { build } from "vite";

export default async function setup(): Promise<void> {
  // Vite sets NODE_ENV=production while it builds; the test servers' configuration must not
  // inherit that.
  const before = process.env.NODE_ENV;
  try {
    await build({ configFile: fileURLToPath(new URL("../../examples/web-onboarding/vite.config.ts", import.meta.url)) });
  } finally {
    if (before === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = before;
  }
}
