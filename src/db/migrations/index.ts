// Every migration, in order. `npm run migration:create -- <name>` writes a new file here;
// review it, then add it below.
import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261128170318_init } from "./Migration20261128170318_init.js";
import { Migration20261128172353_customers_complete } from "./Migration20261128172353_customers_complete.js";
import { Migration20261128173233_verification } from "./Migration20261128173233_verification.js";
import { Migration20261128174138_tenant_settings } from "./Migration20261128174138_tenant_settings.js";
import { Migration20261128175205_event_sequence } from "./Migration20261128175205_event_sequence.js";
import { Migration20261128185015_tenant_audit } from "./Migration20261128185015_tenant_audit.js";
import { Migration20261128193212_defence_in_depth } from "./Migration20261128193212_defence_in_depth.js";
import { Migration20261206191806_session_tokens } from "./Migration20261206191806_session_tokens.js";
import { Migration20261207041000_customer_by_id } from "./Migration20261207041000_customer_by_id.js";
import { Migration20261207110000_event_numbering_after_commit } from "./Migration20261207110000_event_numbering_after_commit.js";
import { Migration20261207160000_expect_rows } from "./Migration20261207160000_expect_rows.js";

export const migrationsList: MigrationObject[] = [
  { name: "Migration20261128170318_init", class: Migration20261128170318_init },
  { name: "Migration20261128172353_customers_complete", class: Migration20261128172353_customers_complete },
  { name: "Migration20261128173233_verification", class: Migration20261128173233_verification },
  { name: "Migration20261128174138_tenant_settings", class: Migration20261128174138_tenant_settings },
  { name: "Migration20261128175205_event_sequence", class: Migration20261128175205_event_sequence },
  { name: "Migration20261128185015_tenant_audit", class: Migration20261128185015_tenant_audit },
  { name: "Migration20261128193212_defence_in_depth", class: Migration20261128193212_defence_in_depth },
  { name: "Migration20261206191806_session_tokens", class: Migration20261206191806_session_tokens },
  { name: "Migration20261207041000_customer_by_id", class: Migration20261207041000_customer_by_id },
  { name: "Migration20261207110000_event_numbering_after_commit", class: Migration20261207110000_event_numbering_after_commit },
  { name: "Migration20261207160000_expect_rows", class: Migration20261207160000_expect_rows },
];
