// `npm run rotate-master-key`: rewraps every tenant's data key under CUSTOMERMS_MASTER_KEY (the
// new key), unwrapping with CUSTOMERMS_MASTER_KEY_PREVIOUS (the old ones). See
// src/db/key-rotation.ts and docs/operations.md ("Rotating the master key").
import { ConfigError, loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { resolveDevSecret } from "../src/db/dev-secret.js";
import { createKeyring, parseMasterKey } from "../src/db/envelope.js";
import { rotateMasterKey } from "../src/db/key-rotation.js";

try {
  const config = loadConfig();
  if (config.masterKey === undefined && config.env === "production") throw new ConfigError("CUSTOMERMS_MASTER_KEY (the new master key) is required");
  const current = await resolveDevSecret(config.masterKey, config.dataDir, "master-key", () => {
    throw new ConfigError("no master key: set CUSTOMERMS_MASTER_KEY to the new key");
  });
  const ring = createKeyring(parseMasterKey(current.value), config.previousMasterKeys.map(parseMasterKey));
  const db = await openDatabase(config);
  try {
    const report = await rotateMasterKey(db.scopes, ring);
    console.log(
      `rewrapped ${report.dataKeysRewrapped} tenant data key(s) and re-sealed ${report.legacyValuesResealed} legacy value(s) under master key ${ring.currentId}; ` +
        "CUSTOMERMS_MASTER_KEY_PREVIOUS can now be removed from every replica",
    );
  } finally {
    await db.close();
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
}
