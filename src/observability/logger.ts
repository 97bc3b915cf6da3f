// JSON logs with pino. Personal data, secrets and codes are redacted by key wherever they appear
// (up to four levels deep), as a safety net: the code logs ids and outcomes, never payloads.
import { pino, type Logger } from "pino";

const SENSITIVE_KEYS = [
  "authorization",
  "apiKey",
  "api_key",
  "adminToken",
  "token",
  "sessionToken",
  "session_token",
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
  "middleName",
  "middle_name",
  "tradingName",
  "trading_name",
  "address",
  "line1",
  "line2",
  "postalCode",
  "postal_code",
  "identifier",
  "registrationNumber",
  "registration_number",
  "masterKey",
  "master_key",
  "wrappedKey",
  "wrapped_key",
  "cookie",
];

const REDACT_PATHS = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`, `*.*.*.*.${k}`]);

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "customerms", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
    },
    destination,
  );
}
