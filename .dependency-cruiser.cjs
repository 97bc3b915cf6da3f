// Import boundaries of DESIGN.md §4, checked by `npm run lint`.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "pure-domain",
      comment:
        "Domain files (customer.ts, compliance/*, verification/policy.ts, errors.ts) stay pure: no generated code, transport, ORM or Redis client.",
      severity: "error",
      from: { path: "^src/(customers/customer\\.ts|compliance/|verification/policy\\.ts|errors\\.ts)" },
      to: { path: "(^gen/|@connectrpc|@mikro-orm|ioredis|node_modules/(@connectrpc|@mikro-orm|ioredis))" },
    },
    {
      name: "gen-only-at-the-edge",
      comment: "gen/ is imported only by *.handler.ts, their protobuf-mapping helpers *.proto.ts, and src/server/ (and tests).",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(server/|.*\\.(handler|proto)\\.ts$)" },
      to: { path: "^gen/" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
