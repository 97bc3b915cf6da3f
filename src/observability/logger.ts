// JSON logs with pino. Personal data, secrets and codes are redacted by key wherever they appear
// (up to three levels deep), as a safety net: the code logs ids and outcomes, never payloads.
import { pino, type Logger } from "pino";

const SENSITIVE_KEYS = [
  "authorization",
  "apiKey",
  "api_key",
  "adminToken",
  "token",
  "secret",
  "password",
  "code",
  "email",
  "phone",
  "phoneNumber",
  "phone_number",
  "givenName",
  "given_name",
  "familyName",
  "family_name",
  "legalName",
  "legal_name",
  "name",
  "nationalId",
  "national_id",
  "taxId",
  "tax_id",
  "dateOfBirth",
  "date_of_birth",
];

const REDACT_PATHS = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "customerms" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
    },
    destination,
  );
}
