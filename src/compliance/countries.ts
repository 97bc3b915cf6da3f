// Per-country onboarding rules: ONE declarative table. The evaluator (requirements.ts) reads it to
// say which fields are due; countryViolations (requirements.ts) reads it to reject values that
// cannot be right for the country (postal code, phone, age, identifier types, registry number).
// Pure data: no I/O. How to add a country: docs/compliance.md.
//
// Conventions and honesty:
// - `required` = needed before the customer can be activated (currentlyDue while missing);
//   `eventuallyDue` = needed later (e.g. for tax reporting, or obligations that start on a known
//   date such as EU AMLR on 10 July 2027), shown but not blocking.
// - The statutes below say WHAT must be identified; which fields a product collects up front is
//   partly policy. Where the law leaves room we chose the stricter common reading and say so.
// - beneficialOwnerThresholdBasisPoints: a representative owning at least this share must be
//   declared a beneficial owner. Laws that say "more than 25 %" are applied as "25 % or more"
//   (stricter by one share; conservative).
// - phoneMustBeLocal is product policy, not law: true only where onboarding relies on local
//   mobile identity (Aadhaar/bank OTPs, SIM-registered mobile money) — see each entry.
// - minimumAge: the age of contractual capacity (majority) for opening an account alone.

/** A stable path in the Customer resource, snake_case ("individual.date_of_birth", "address",
 * "address.postal_code", "business.representatives", ...). The known paths and what "missing"
 * means for each are in requirements.ts (REQUIREMENT_PATHS). */
export type RequirementPath = string;

export interface CountryRules {
  readonly country: string;
  readonly name: string;
  /** Postal code format, tested on the trimmed, upper-cased value; null = no postal codes. */
  readonly postalCode: RegExp | null;
  /** The customer's phone number must belong to this country's numbering plan. */
  readonly phoneMustBeLocal: boolean;
  readonly individual: {
    readonly required: readonly RequirementPath[];
    readonly eventuallyDue: readonly RequirementPath[];
    readonly minimumAge: number;
    /** IDENTIFIERS types accepted as individual.national_id (holder "individual"). */
    readonly nationalIdTypes: readonly string[];
  };
  readonly business: {
    readonly required: readonly RequirementPath[];
    readonly eventuallyDue: readonly RequirementPath[];
    /** IDENTIFIERS types accepted as business.tax_id (holder "business"). */
    readonly taxIdTypes: readonly string[];
    /** Registry number format, tested on the trimmed, upper-cased value; null = not checked. */
    readonly registrationNumber: RegExp | null;
    /** 2500 = 25 %. */
    readonly beneficialOwnerThresholdBasisPoints: number;
  };
  /** Law / regulator pages backing the rules. */
  readonly sources: readonly string[];
}

// Shared sources --------------------------------------------------------------------------------
const EU_AMLD = "Directive (EU) 2015/849 (AMLD4) art. 3(6) and 13: https://eur-lex.europa.eu/eli/dir/2015/849/oj";
const EU_AMLR =
  "Regulation (EU) 2024/1624 (AMLR) art. 22 (identification data incl. nationality) and art. 52 (25 % ownership), applies from 10 July 2027: https://eur-lex.europa.eu/eli/reg/2024/1624/oj";
const OECD_CRS =
  "OECD Common Reporting Standard, self-certification of tax residence: https://www.oecd.org/tax/automatic-exchange/common-reporting-standard/";

// Building blocks -------------------------------------------------------------------------------
const DOB = "individual.date_of_birth";
const NATIONALITY = "individual.nationality";
const NATIONAL_ID = "individual.national_id";
const TAX_RESIDENCY = "individual.tax_residency_country";
const OCCUPATION = "individual.occupation";
const ADDRESS = "address";
const POSTAL = "address.postal_code";
const REGISTRATION = "business.registration_number";
const TAX_ID = "business.tax_id";
const REPRESENTATIVES = "business.representatives";
const ENTITY_TYPE = "business.entity_type";
const INCORPORATION_DATE = "business.incorporation_date";
const INDUSTRY = "business.industry";

const TABLE: CountryRules[] = [
  {
    country: "US",
    name: "United States",
    // USPS ZIP / ZIP+4.
    postalCode: /^\d{5}(-\d{4})?$/,
    phoneMustBeLocal: false,
    individual: {
      // CIP rule 31 CFR 1020.220(a)(2)(i): name, date of birth, address, identification number
      // (a TIN — SSN or ITIN — for US persons). Nationality decides US-person status: later.
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [NATIONALITY],
      // 18 in 47 states; 19 in Alabama and Nebraska, 21 in Mississippi. Common value chosen.
      minimumAge: 18,
      nationalIdTypes: ["US_SSN", "US_ITIN"],
    },
    business: {
      // CIP: name, principal place of business, TIN (EIN). CDD rule 31 CFR 1010.230: beneficial
      // owners at 25 % or more plus one control person.
      required: [ADDRESS, POSTAL, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [ENTITY_TYPE, INCORPORATION_DATE],
      taxIdTypes: ["US_EIN"],
      registrationNumber: null, // state registries have no common format
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "31 CFR 1020.220 (CIP): https://www.ecfr.gov/current/title-31/subtitle-B/chapter-X/part-1020/subpart-B/section-1020.220",
      "31 CFR 1010.230 (beneficial ownership, 25 %): https://www.ecfr.gov/current/title-31/subtitle-B/chapter-X/part-1010/subpart-B/section-1010.230",
    ],
  },
  {
    country: "GB",
    name: "United Kingdom",
    // Royal Mail outward + inward code (simplified: area letters not enumerated).
    postalCode: /^([A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|GIR ?0AA)$/,
    phoneMustBeLocal: false,
    individual: {
      // MLR 2017 reg. 28 with JMLSG guidance: full name, residential address, date of birth.
      required: [ADDRESS, POSTAL, DOB],
      eventuallyDue: [TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["GB_NINO"],
    },
    business: {
      // MLR 2017 reg. 28(3)-(4): registered number, registered office, directors, beneficial
      // owners; PSC regime: "more than 25 %" (applied as ≥ 25 %).
      required: [ADDRESS, POSTAL, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID, INCORPORATION_DATE],
      taxIdTypes: ["GB_UTR", "GB_VAT"],
      registrationNumber: /^(\d{8}|[A-Z]{2}\d{6}|R\d{7})$/,
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Money Laundering Regulations 2017 reg. 5, 28: https://www.legislation.gov.uk/uksi/2017/692/regulation/28",
      "Companies Act 2006 Sch. 1A (PSC, more than 25 %): https://www.legislation.gov.uk/ukpga/2006/46/schedule/1A",
      OECD_CRS,
    ],
  },
  {
    country: "DE",
    name: "Germany",
    postalCode: /^\d{5}$/,
    phoneMustBeLocal: false,
    individual: {
      // GwG § 11(4) Nr. 1: name, place and date of birth, nationality, address. AO § 154(2a):
      // banks record the Steuer-ID of account holders (may be collected after opening).
      required: [ADDRESS, POSTAL, DOB, NATIONALITY],
      eventuallyDue: [NATIONAL_ID, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["DE_STEUER_ID"],
    },
    business: {
      // GwG § 11(4) Nr. 2: name, legal form, register number, address, representatives; § 3 GwG:
      // beneficial owner > 25 %.
      required: [ADDRESS, POSTAL, REGISTRATION, ENTITY_TYPE, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["DE_USTID", "DE_STEUERNUMMER"],
      // Handelsregister: register type + number (+ optional suffix); the court is not encoded.
      registrationNumber: /^(HRA|HRB|GNR|PR|VR|GSR) ?\d{1,6}( ?[A-Z]{1,2})?$/,
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "GwG § 11 (identification data): https://www.gesetze-im-internet.de/gwg_2017/__11.html",
      "GwG § 3 (wirtschaftlich Berechtigter, 25 %): https://www.gesetze-im-internet.de/gwg_2017/__3.html",
      "AO § 154 Abs. 2a (Steuer-ID of account holders): https://www.gesetze-im-internet.de/ao_1977/__154.html",
      EU_AMLD,
    ],
  },
  {
    country: "FR",
    name: "France",
    postalCode: /^\d{5}$/,
    phoneMustBeLocal: false,
    individual: {
      // CMF R.561-5: name, date and place of birth (address: ACPR guidance). Nationality from
      // AMLR (2027).
      required: [ADDRESS, POSTAL, DOB],
      eventuallyDue: [NATIONALITY, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["FR_SPI", "FR_NIR"],
    },
    business: {
      // CMF R.561-5-2 (legal form, name, registration number, registered office, representatives);
      // R.561-1: beneficial owner > 25 %.
      required: [ADDRESS, POSTAL, REGISTRATION, ENTITY_TYPE, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["FR_SIREN", "FR_TVA"],
      registrationNumber: /^\d{3} ?\d{3} ?\d{3}$/, // SIREN (RCS number)
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Code monétaire et financier art. R.561-1 (bénéficiaire effectif, 25 %) and R.561-5 to R.561-5-2 (identification): https://www.legifrance.gouv.fr/codes/id/LEGITEXT000006072026/",
      EU_AMLD,
      EU_AMLR,
    ],
  },
  {
    country: "NL",
    name: "Netherlands",
    // PostNL: 4 digits (first not 0) + 2 letters; SA, SD and SS are not used.
    postalCode: /^[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}$/,
    phoneMustBeLocal: false,
    individual: {
      // Wwft art. 33 + Uitvoeringsregeling Wwft: name, date of birth, address; BSN recorded for tax
      // reporting (Awr art. 10a / CRS) later.
      required: [ADDRESS, POSTAL, DOB],
      eventuallyDue: [NATIONAL_ID, NATIONALITY, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["NL_BSN"],
    },
    business: {
      required: [ADDRESS, POSTAL, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["NL_RSIN", "NL_KVK"],
      registrationNumber: /^\d{8}$/, // KVK number
      beneficialOwnerThresholdBasisPoints: 2500, // Uitvoeringsbesluit Wwft 2018 art. 3: > 25 %
    },
    sources: [
      "Wwft art. 33: https://wetten.overheid.nl/BWBR0024282",
      "Uitvoeringsbesluit Wwft 2018 art. 3 (UBO > 25 %): https://wetten.overheid.nl/BWBR0040698",
      EU_AMLD,
      EU_AMLR,
    ],
  },
  {
    country: "ES",
    name: "Spain",
    // Correos: 5 digits, province 01-52.
    postalCode: /^(0[1-9]|[1-4]\d|5[0-2])\d{3}$/,
    phoneMustBeLocal: false,
    individual: {
      // Ley 10/2010 art. 3 + RD 304/2014 art. 6: identity document (DNI/NIE for residents);
      // tax law requires the NIF for financial accounts (RD 1065/2007).
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [NATIONALITY, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["ES_DNI", "ES_NIE"],
    },
    business: {
      // NIF is mandatory for legal entities' financial operations (RD 1065/2007 art. 18, 26);
      // Ley 10/2010 art. 4: beneficial owner > 25 %. Registro Mercantil data (tomo/folio/hoja)
      // has no single number format: not checked.
      required: [ADDRESS, POSTAL, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [ENTITY_TYPE, INCORPORATION_DATE],
      taxIdTypes: ["ES_CIF"],
      registrationNumber: null,
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Ley 10/2010 art. 3-4: https://www.boe.es/buscar/act.php?id=BOE-A-2010-6737",
      "Real Decreto 304/2014 art. 6: https://www.boe.es/buscar/act.php?id=BOE-A-2014-4742",
      "Real Decreto 1065/2007 (NIF): https://www.boe.es/buscar/act.php?id=BOE-A-2007-15984",
      EU_AMLD,
    ],
  },
  {
    country: "IT",
    name: "Italy",
    postalCode: /^\d{5}$/,
    phoneMustBeLocal: false,
    individual: {
      // D.Lgs. 231/2007 art. 18-19; DPR 605/1973 art. 6: the codice fiscale is required to open
      // an account.
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [NATIONALITY, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["IT_CODICE_FISCALE"],
    },
    business: {
      // D.Lgs. 231/2007 art. 20: beneficial owner > 25 %.
      required: [ADDRESS, POSTAL, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [REGISTRATION],
      taxIdTypes: ["IT_PARTITA_IVA"],
      // Registro Imprese number (= 11-digit codice fiscale) or REA number (province + digits).
      registrationNumber: /^(\d{11}|[A-Z]{2}[- ]?\d{1,7})$/,
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "D.Lgs. 231/2007 art. 18-20: https://www.normattiva.it/uri-res/N2Ls?urn:nir:stato:decreto.legislativo:2007-11-21;231",
      "DPR 605/1973 art. 6 (codice fiscale): https://www.normattiva.it/uri-res/N2Ls?urn:nir:stato:decreto.del.presidente.della.repubblica:1973-09-29;605",
      EU_AMLD,
    ],
  },
  {
    country: "IE",
    name: "Ireland",
    // Eircode: routing key (letter + 2 digits, or D6W) + 4-character unique identifier.
    postalCode: /^([AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}$/,
    phoneMustBeLocal: false,
    individual: {
      // CJA 2010 s.33: identity verification; Eircodes exist for every address since 2015 but many
      // customers do not know theirs: eventually due. PPSN for tax reporting (TCA 1997 s.891B).
      required: [ADDRESS, DOB],
      eventuallyDue: [POSTAL, NATIONAL_ID, NATIONALITY, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["IE_PPSN"],
    },
    business: {
      // S.I. 110/2019 (beneficial ownership, > 25 %).
      required: [ADDRESS, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [POSTAL, TAX_ID],
      taxIdTypes: ["IE_VAT"],
      registrationNumber: /^\d{1,7}$/, // CRO number
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Criminal Justice (Money Laundering and Terrorist Financing) Act 2010 s.33: https://www.irishstatutebook.ie/eli/2010/act/6/section/33/enacted/en/html",
      "S.I. No. 110/2019 (beneficial ownership of corporate entities): https://www.irishstatutebook.ie/eli/2019/si/110/made/en/print",
      EU_AMLD,
      EU_AMLR,
    ],
  },
  {
    country: "CH",
    name: "Switzerland",
    postalCode: /^[1-9]\d{3}$/,
    phoneMustBeLocal: false,
    individual: {
      // CDB 20 art. 3 / GwV-FINMA: name, date of birth, nationality, address. The AHV number may
      // only be used systematically by authorised bodies (AHVG art. 153b ff.): accepted, never due.
      required: [ADDRESS, POSTAL, DOB, NATIONALITY],
      eventuallyDue: [TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["CH_AHV"],
    },
    business: {
      // GwG art. 2a(3) / GwV-FINMA art. 56: controlling persons at 25 % or more.
      required: [ADDRESS, POSTAL, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["CH_UID"],
      registrationNumber: /^CHE-?\d{3}\.?\d{3}\.?\d{3}$/, // UID as used by the commercial register
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Geldwäschereigesetz (GwG) art. 2a, 3, 4: https://www.fedlex.admin.ch/eli/cc/1998/892_892_892/de",
      "Geldwäschereiverordnung-FINMA (GwV-FINMA): https://www.fedlex.admin.ch/eli/cc/2015/390/de",
      "VSB/CDB 20: https://www.swissbanking.ch/",
    ],
  },
  {
    country: "SE",
    name: "Sweden",
    postalCode: /^[1-9]\d{2} ?\d{2}$/,
    phoneMustBeLocal: false,
    individual: {
      // Penningtvättslag (2017:630) 3 kap. 7 §; Swedish institutions identify residents by
      // personnummer (conservative: required).
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [NATIONALITY, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["SE_PERSONNUMMER"],
    },
    business: {
      // 1 kap. 8 § (2017:630): verklig huvudman > 25 %.
      required: [ADDRESS, POSTAL, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["SE_ORGNR"],
      registrationNumber: /^\d{6}-?\d{4}$/, // organisationsnummer
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Lag (2017:630) om åtgärder mot penningtvätt: https://www.riksdagen.se/sv/dokument-och-lagar/dokument/svensk-forfattningssamling/lag-2017630-om-atgarder-mot-penningtvatt-och_sfs-2017-630/",
      EU_AMLD,
      EU_AMLR,
    ],
  },
  {
    country: "PL",
    name: "Poland",
    postalCode: /^\d{2}-\d{3}$/,
    phoneMustBeLocal: false,
    individual: {
      // Ustawa AML 2018 art. 36 ust. 1 pkt 1: name, nationality, PESEL (or date of birth when no
      // PESEL was assigned), address. PESEL therefore eventually due, not required.
      required: [ADDRESS, POSTAL, DOB, NATIONALITY],
      eventuallyDue: [NATIONAL_ID, TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["PL_PESEL"],
    },
    business: {
      // art. 36 ust. 1 pkt 2: name, legal form, address, NIP, KRS/REGON (sole traders have no KRS:
      // eventually due); art. 2 ust. 2 pkt 1: beneficial owner > 25 %.
      required: [ADDRESS, POSTAL, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [REGISTRATION, ENTITY_TYPE],
      taxIdTypes: ["PL_NIP", "PL_REGON"],
      registrationNumber: /^\d{10}$/, // KRS
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Ustawa z dnia 1 marca 2018 r. o przeciwdziałaniu praniu pieniędzy art. 2, 36: https://isap.sejm.gov.pl/isap.nsf/DocDetails.xsp?id=WDU20180000723",
      EU_AMLD,
      EU_AMLR,
    ],
  },
  {
    country: "AE",
    name: "United Arab Emirates",
    postalCode: null, // the UAE has no postal code system (P.O. boxes)
    phoneMustBeLocal: false,
    individual: {
      // Cabinet Decision No. 10/2019 art. 8: name, nationality, date of birth, address, identity
      // document number (Emirates ID for residents).
      required: [ADDRESS, DOB, NATIONALITY, NATIONAL_ID],
      eventuallyDue: [OCCUPATION],
      // Civil Transactions Law (Federal Law 5/1985 art. 85, amended by Federal Decree-Law 30/2020):
      // majority at 21 Gregorian years. Unsure whether fintech regulators accept 18 with
      // guardian consent: the stricter 21 is used.
      minimumAge: 21,
      nationalIdTypes: ["AE_EMIRATES_ID"],
    },
    business: {
      // Cabinet Decision No. 58/2020 (real beneficiary, 25 %); trade-licence numbers differ by
      // emirate and free zone: required, format not checked.
      required: [ADDRESS, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID, INCORPORATION_DATE],
      taxIdTypes: ["AE_TRN"],
      registrationNumber: null,
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Cabinet Decision No. (10) of 2019 (AML executive regulation) art. 8: https://www.uaefiu.gov.ae/en/",
      "Cabinet Decision No. (58) of 2020 (real beneficiary procedures, 25 %): https://www.moec.gov.ae/",
    ],
  },
  {
    country: "SG",
    name: "Singapore",
    postalCode: /^\d{6}$/,
    phoneMustBeLocal: false,
    individual: {
      // MAS Notice 626 para. 6.5: full name, unique identification number, residential address,
      // date of birth, nationality.
      required: [ADDRESS, POSTAL, DOB, NATIONALITY, NATIONAL_ID],
      eventuallyDue: [TAX_RESIDENCY],
      minimumAge: 18, // Civil Law Act s.35: contractual capacity at 18
      nationalIdTypes: ["SG_NRIC"],
    },
    business: {
      // MAS Notice 626 para. 6.5 (name, UEN, legal form, registered address, directors) and 6.14
      // (beneficial owners; MAS guidance uses 25 %).
      required: [ADDRESS, POSTAL, REGISTRATION, ENTITY_TYPE, REPRESENTATIVES],
      eventuallyDue: [INCORPORATION_DATE],
      taxIdTypes: ["SG_UEN"],
      registrationNumber: /^(\d{8}[A-Z]|\d{9}[A-Z]|[TSR]\d{2}[A-Z]{2}\d{4}[A-Z])$/, // UEN
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "MAS Notice 626 (banks) on prevention of money laundering: https://www.mas.gov.sg/regulation/notices/notice-626",
      "Companies Act 1967 Part 11A (registrable controllers, 25 %): https://sso.agc.gov.sg/Act/CoA1967",
    ],
  },
  {
    country: "NG",
    name: "Nigeria",
    postalCode: /^\d{6}$/, // NIPOST codes exist but are rarely used: never required
    // Policy: BVN/NIN records are tied to a Nigerian mobile number and OTPs go there.
    phoneMustBeLocal: true,
    individual: {
      // CBN AML/CFT/CPF Regulations 2022 and CBN tiered KYC: BVN or NIN for every account.
      required: [ADDRESS, DOB, NATIONAL_ID],
      eventuallyDue: [NATIONALITY, OCCUPATION],
      minimumAge: 18,
      nationalIdTypes: ["NG_NIN", "NG_BVN"],
    },
    business: {
      // CAMA 2020 s.119/868 and Persons with Significant Control Regulations 2022: at least 5 %.
      // Corporate accounts need a TIN (Finance Act 2019 amendment to CITA s.10).
      required: [ADDRESS, REGISTRATION, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [INCORPORATION_DATE],
      taxIdTypes: ["NG_TIN"],
      registrationNumber: /^(RC|BN|IT|LP|LLP)? ?\d{1,8}$/, // CAC RC/BN numbers
      beneficialOwnerThresholdBasisPoints: 500,
    },
    sources: [
      "Persons with Significant Control Regulations 2022 (5 %): https://www.cac.gov.ng/",
      "CBN (Anti-Money Laundering, Combating the Financing of Terrorism and Countering Proliferation Financing) Regulations 2022: https://www.cbn.gov.ng/",
      "Companies and Allied Matters Act 2020 s.119, 868",
    ],
  },
  {
    country: "KE",
    name: "Kenya",
    postalCode: /^\d{5}$/, // postal codes of post offices; rarely part of a street address
    // Policy: mobile-money onboarding relies on a SIM registered to the customer's Kenyan ID.
    phoneMustBeLocal: true,
    individual: {
      // Proceeds of Crime and Anti-Money Laundering Regulations 2023 (customer identification:
      // name, date of birth, ID number, address).
      required: [ADDRESS, DOB, NATIONAL_ID],
      eventuallyDue: [NATIONALITY, OCCUPATION],
      minimumAge: 18,
      nationalIdTypes: ["KE_NATIONAL_ID"],
    },
    business: {
      // Companies (Beneficial Ownership Information) Regulations 2020: at least 10 % of shares or
      // voting rights. KRA PIN is required to open business accounts.
      required: [ADDRESS, REGISTRATION, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [INCORPORATION_DATE],
      taxIdTypes: ["KE_KRA_PIN"],
      // Business Registration Service numbers (PVT-..., CPR/2010/..., BN-...): loose format.
      registrationNumber: /^(PVT|CPR|PLC|BN|LLP|CLG|C)[-/ ]?[A-Z0-9/-]{3,20}$/,
      beneficialOwnerThresholdBasisPoints: 1000,
    },
    sources: [
      "Companies (Beneficial Ownership Information) Regulations 2020, L.N. 12/2020 (10 %): https://new.kenyalaw.org/",
      "Proceeds of Crime and Anti-Money Laundering Act (Cap. 59B) and Regulations: https://www.frc.go.ke/",
    ],
  },
  {
    country: "ZA",
    name: "South Africa",
    postalCode: /^\d{4}$/,
    phoneMustBeLocal: false,
    individual: {
      // FIC Act s.21 and FIC Guidance Note 7: full name, date of birth, identity number,
      // residential address.
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [TAX_RESIDENCY],
      minimumAge: 18, // Children's Act 38 of 2005 s.17
      nationalIdTypes: ["ZA_ID"],
    },
    business: {
      // FIC Act s.21B (beneficial ownership, no numeric threshold); Companies Regulations 2011
      // reg. 32A as amended 2023: beneficial interest of 5 % or more — the stricter value is used.
      required: [ADDRESS, POSTAL, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["ZA_TAX_REF", "ZA_VAT"],
      registrationNumber: /^\d{4}\/\d{6}\/\d{2}$/, // CIPC YYYY/NNNNNN/NN
      beneficialOwnerThresholdBasisPoints: 500,
    },
    sources: [
      "Financial Intelligence Centre Act 38 of 2001 s.21, 21B: https://www.fic.gov.za/",
      "Companies Amendment Regulations 2023 (beneficial ownership register, 5 %): https://www.cipc.co.za/",
      "General Laws (AML and Combating Terrorism Financing) Amendment Act 22 of 2022",
    ],
  },
  {
    country: "IN",
    name: "India",
    postalCode: /^[1-9]\d{2} ?\d{3}$/, // PIN code
    // Policy: Aadhaar/CKYC OTPs go to an Indian mobile number.
    phoneMustBeLocal: true,
    individual: {
      // PML (Maintenance of Records) Rules 2005 r.9(4): PAN (or Form 60) and an officially valid
      // document; RBI KYC Master Direction 2016.
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [OCCUPATION],
      minimumAge: 18, // Indian Majority Act 1875
      // Aadhaar is deliberately absent: storing Aadhaar numbers needs an Aadhaar Data Vault
      // (Aadhaar Act s.29, Aadhaar (Data Security) Regulations 2016).
      nationalIdTypes: ["IN_PAN"],
    },
    business: {
      // r.9(5)-(6): PAN of the entity, certificate of incorporation; r.9(3): beneficial owner
      // > 10 % of shares, capital or profits (amended March 2023, was 25 %).
      required: [ADDRESS, POSTAL, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [REGISTRATION, INCORPORATION_DATE],
      taxIdTypes: ["IN_PAN_ENTITY", "IN_GSTIN"],
      registrationNumber: /^([LU]\d{5}[A-Z]{2}\d{4}[A-Z]{3}\d{6}|[A-Z]{3}-\d{4})$/, // CIN or LLPIN
      beneficialOwnerThresholdBasisPoints: 1000,
    },
    sources: [
      "Prevention of Money-laundering (Maintenance of Records) Rules 2005 r.9, amended 7 March 2023 (10 %): https://fiuindia.gov.in/",
      "RBI Master Direction – Know Your Customer (KYC) Direction, 2016: https://www.rbi.org.in/Scripts/BS_ViewMasDirections.aspx?id=11566",
    ],
  },
  {
    country: "BR",
    name: "Brazil",
    postalCode: /^\d{5}-?\d{3}$/, // CEP
    phoneMustBeLocal: false,
    individual: {
      // Circular BCB 3.978/2020 art. 16 (identification incl. CPF); Resolução CMN 4.753/2019.
      required: [ADDRESS, POSTAL, DOB, NATIONAL_ID],
      eventuallyDue: [OCCUPATION],
      minimumAge: 18, // Código Civil art. 5
      nationalIdTypes: ["BR_CPF"],
    },
    business: {
      // CNPJ is both the tax and the registry identifier (NIRE formats not checked).
      // Circular 3.978/2020 art. 25: beneficial owner threshold set by the institution, at most
      // 25 % — 25 % used.
      required: [ADDRESS, POSTAL, TAX_ID, REPRESENTATIVES],
      eventuallyDue: [INCORPORATION_DATE, ENTITY_TYPE],
      taxIdTypes: ["BR_CNPJ"],
      registrationNumber: null,
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Circular BCB nº 3.978/2020: https://www.bcb.gov.br/estabilidadefinanceira/exibenormativo?tipo=Circular&numero=3978",
      "Instrução Normativa RFB nº 2.119/2022 (CNPJ, beneficiário final): https://normas.receita.fazenda.gov.br/",
    ],
  },
  {
    country: "MX",
    name: "Mexico",
    postalCode: /^\d{5}$/,
    phoneMustBeLocal: false,
    individual: {
      // Disposiciones de carácter general del art. 115 LIC, 4ª fr. I: name, date of birth,
      // nationality, occupation, address, CURP and RFC.
      required: [ADDRESS, POSTAL, DOB, NATIONALITY, OCCUPATION, NATIONAL_ID],
      eventuallyDue: [TAX_RESIDENCY],
      minimumAge: 18, // Código Civil Federal art. 646
      nationalIdTypes: ["MX_CURP"],
    },
    business: {
      // Same Disposiciones 4ª fr. II: name, nationality, business activity (giro), RFC,
      // incorporation date, address, representatives. Beneficiario controlador: CFF art. 32-B
      // Quáter with RMF rule 2.8.1.20 uses more than 15 % — stricter than the AML 25 %; used here.
      required: [ADDRESS, POSTAL, TAX_ID, INCORPORATION_DATE, INDUSTRY, REPRESENTATIVES],
      eventuallyDue: [REGISTRATION],
      taxIdTypes: ["MX_RFC"],
      registrationNumber: null, // folio mercantil electrónico: format not checked
      beneficialOwnerThresholdBasisPoints: 1500,
    },
    sources: [
      "Disposiciones de carácter general a que se refiere el artículo 115 de la Ley de Instituciones de Crédito (CNBV): https://www.gob.mx/cnbv",
      "Código Fiscal de la Federación art. 32-B Ter a Quinquies (beneficiario controlador): https://www.diputados.gob.mx/LeyesBiblio/pdf/CFF.pdf",
    ],
  },
  {
    country: "CA",
    name: "Canada",
    // Canada Post: A1A 1A1 (no D, F, I, O, Q, U; no W or Z first).
    postalCode: /^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$/,
    phoneMustBeLocal: false,
    individual: {
      // PCMLTFR s.105 ff. / FINTRAC guidance: name, address, date of birth, occupation. SIN needed
      // for interest reporting (Income Tax Act s.237) — eventually due.
      required: [ADDRESS, POSTAL, DOB, OCCUPATION],
      eventuallyDue: [NATIONAL_ID, TAX_RESIDENCY],
      // Majority is 18 in AB, MB, ON, PE, QC, SK and 19 in BC, NB, NL, NS, NT, NU, YT: the
      // stricter 19 is used.
      minimumAge: 19,
      nationalIdTypes: ["CA_SIN"],
    },
    business: {
      // PCMLTFR s.138: beneficial owners at 25 % or more; nature of principal business.
      required: [ADDRESS, POSTAL, INDUSTRY, REPRESENTATIVES],
      eventuallyDue: [TAX_ID, REGISTRATION],
      taxIdTypes: ["CA_BN"],
      registrationNumber: null, // federal and provincial registries differ
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Proceeds of Crime (Money Laundering) and Terrorist Financing Regulations (SOR/2002-184) s.138: https://laws-lois.justice.gc.ca/eng/regulations/SOR-2002-184/",
      "FINTRAC, Beneficial ownership requirements: https://fintrac-canafe.canada.ca/guidance-directives/client-clientele/bor-eng",
    ],
  },
  {
    country: "AU",
    name: "Australia",
    postalCode: /^\d{4}$/,
    phoneMustBeLocal: false,
    individual: {
      // AML/CTF Rules 4.2.3: full name, date of birth, residential address. TFN quoting is
      // voluntary (Privacy (Tax File Number) Rule 2015): accepted, never due.
      required: [ADDRESS, POSTAL, DOB],
      eventuallyDue: [TAX_RESIDENCY],
      minimumAge: 18,
      nationalIdTypes: ["AU_TFN"],
    },
    business: {
      // AML/CTF Rules 4.3 and 4.12 (beneficial owner: 25 % or more); ACN for companies.
      required: [ADDRESS, POSTAL, REGISTRATION, REPRESENTATIVES],
      eventuallyDue: [TAX_ID],
      taxIdTypes: ["AU_ABN"],
      registrationNumber: /^\d{3} ?\d{3} ?\d{3}$/, // ACN
      beneficialOwnerThresholdBasisPoints: 2500,
    },
    sources: [
      "Anti-Money Laundering and Counter-Terrorism Financing Rules Instrument 2007 (No. 1), chapter 4: https://www.legislation.gov.au/F2007L01000/latest/text",
      "AUSTRAC, Beneficial owners: https://www.austrac.gov.au/",
    ],
  },
];

export const COUNTRY_RULES: Readonly<Record<string, CountryRules>> = Object.freeze(
  Object.fromEntries(TABLE.map((r) => [r.country, Object.freeze(r)])),
);

export const SUPPORTED_COUNTRIES: readonly string[] = Object.freeze(TABLE.map((r) => r.country).sort());

export function rulesFor(country: string): CountryRules | undefined {
  return Object.hasOwn(COUNTRY_RULES, country) ? COUNTRY_RULES[country] : undefined;
}
