// Master key rotation (`npm run rotate-master-key`, docs/operations.md): with the NEW key in
// CUSTOMERMS_MASTER_KEY and the old one(s) in CUSTOMERMS_MASTER_KEY_PREVIOUS,
//   1. every tenant's data key is rewrapped under the new master key (the data is not touched:
//      it is sealed with the data keys, which do not change);
//   2. identifiers sealed before envelope encryption ("v1.", directly under a master key) are
//      re-sealed with their tenant's data key.
// Afterwards nothing depends on the old master key and it can be removed from the environment.
// Runs as the operator role (it spans tenants), in one transaction: all or nothing.
import type { EntityManager } from "@mikro-orm/postgresql";
import { DataKeys, rewrapDataKeys, type MasterKeyring } from "./envelope.js";
import type { Scopes } from "./scope.js";

export interface RotationReport {
  readonly dataKeysRewrapped: number;
  readonly legacyValuesResealed: number;
}

type Sealed = { sealed: string } & Record<string, unknown>;

async function resealLegacy(em: EntityManager, keys: DataKeys): Promise<number> {
  const rows = await em.execute<Array<{ tenant_id: string; id: string; profile: Record<string, unknown> }>>(
    `select tenant_id, id, profile from customers where profile::text like '%"v1.%' for update`,
  );
  let count = 0;
  for (const row of rows) {
    const cipher = await keys.forTenant(em, row.tenant_id);
    const profile = { ...row.profile };
    for (const [key, field] of [["nationalId", "individual.national_id"], ["taxId", "business.tax_id"]] as const) {
      const id = profile[key] as Sealed | null | undefined;
      if (!id || typeof id.sealed !== "string" || !id.sealed.startsWith("v1.")) continue;
      const aad = `${row.tenant_id}/${row.id}/${field}`;
      profile[key] = { ...id, sealed: cipher.seal(cipher.open(id.sealed, aad), aad) };
      count += 1;
    }
    await em.execute("update customers set profile = ? where tenant_id = ? and id = ?", [JSON.stringify(profile), row.tenant_id, row.id], "run");
  }
  return count;
}

export async function rotateMasterKey(scopes: Scopes, ring: MasterKeyring, now = new Date()): Promise<RotationReport> {
  return scopes.operator("maintenance/rotate-master-key")(async (em) => {
    const dataKeysRewrapped = await rewrapDataKeys(em, ring, now);
    const legacyValuesResealed = await resealLegacy(em, new DataKeys(ring, () => now));
    return { dataKeysRewrapped, legacyValuesResealed };
  });
}
