/**
 * The CNIL's conditions for audience measurement without consent (exemption of article 82 of the
 * loi Informatique et Libertés, CNIL guidance on audience measurement tools), as Socle applies them
 * to Matomo: one contract, rendered into the settings the entry point applies through Matomo's API
 * at every start, and checked against what Matomo reports back (`socle-matomo check`). Pure
 * functions: the audit reuses {@link evaluateMatomoPrivacy} on a live read-back.
 */

/** The CNIL's ceiling for raw measurement data: 25 months. */
const CNIL_MAX_RETENTION_DAYS = 760;
/** What Socle keeps raw visit data for unless the city says otherwise. */
const DEFAULT_RAW_DATA_RETENTION_DAYS = 180;
/** At least two bytes of an IPv4 address are masked (CNIL: "au moins les deux derniers octets"). */
const MIN_IP_MASK_BYTES = 2;

/**
 * Query parameters that carry a code or an identifier in Socle's apps: LimeSurvey's invitation
 * code (`token`), Decidim's invitation and account links (Devise). Matomo never stores them, and
 * the tracker strips them from the page address before sending it.
 */
export const CODE_PARAMETERS = ['token', 'invitation_token', 'reset_password_token', 'confirmation_token', 'unlock_token', 'code', 'email'] as const;

/** Matomo plugins that reach a third party or hold an identifier, never activated by Socle. */
export const FORBIDDEN_PLUGINS = ['Marketplace', 'ProfessionalServices', 'Feedback', 'SEO', 'RssWidget', 'MobileMessaging', 'UserId', 'JsTrackerInstallCheck'] as const;

export interface MatomoPrivacy {
  readonly ipMaskBytes: number;
  readonly rawDataRetentionDays: number;
  readonly doNotTrack: boolean;
  readonly excludedQueryParameters: readonly string[];
}

export function matomoPrivacy(rawDataRetentionDays = DEFAULT_RAW_DATA_RETENTION_DAYS): MatomoPrivacy {
  if (!Number.isInteger(rawDataRetentionDays) || rawDataRetentionDays < 1 || rawDataRetentionDays > CNIL_MAX_RETENTION_DAYS) {
    throw new Error(`matomo rawDataRetentionDays must be a whole number of days from 1 to ${CNIL_MAX_RETENTION_DAYS} (the CNIL's 25 months), got ${rawDataRetentionDays}; set services.matomo.rawDataRetentionDays in the city file`);
  }
  return { ipMaskBytes: MIN_IP_MASK_BYTES, rawDataRetentionDays, doNotTrack: true, excludedQueryParameters: [...CODE_PARAMETERS] };
}

/** The label of the volume and the register: generated from the same value Matomo applies. */
export function rawDataRetentionLabel(p: MatomoPrivacy): string {
  return `données brutes des visites ${p.rawDataRetentionDays} jours (Matomo supprime chaque jour les plus anciennes), rapports agrégés conservés`;
}

/** What `socle-matomo check` prints (services/matomo/lib/socle-matomo.php). */
export interface MatomoReadBack {
  readonly version: string;
  readonly superUsers: number;
  readonly ipAnonymization: { readonly enabled: boolean; readonly maskLength: number; readonly forEnrichment: boolean };
  readonly userIdPseudonymized: boolean;
  readonly rawDataDeletion: { readonly enabled: boolean; readonly olderThanDays: number };
  readonly doNotTrack: boolean;
  readonly excludedQueryParameters: readonly string[];
  readonly activatedPlugins: readonly string[];
  readonly internetFeatures: boolean;
  readonly browserArchiving: boolean;
  readonly fingerprintingAcrossSites: boolean;
  readonly thirdPartyCookie: boolean;
  readonly sites: ReadonlyArray<{ readonly id: number; readonly name: string; readonly urls: readonly string[]; readonly excludeUnknownUrls: boolean }>;
}

export interface PrivacyFinding {
  /** Stable id, e.g. `MATOMO-IP`. */
  readonly id: string;
  readonly ok: boolean;
  /** What the check proves, in one line. */
  readonly statement: string;
  /** The values that decided it. */
  readonly evidence: string;
  readonly fix: string;
}

const REDEPLOY = 'restart the Matomo app container (it applies Socle\'s settings at start), or redeploy; a setting changed by hand in Matomo is replaced then';

/** Every condition, checked against a read-back; `trackerScript` is the snippet the proxy serves. */
export function evaluateMatomoPrivacy(read: MatomoReadBack, expected: MatomoPrivacy, trackerScript?: string): PrivacyFinding[] {
  const finding = (id: string, ok: boolean, statement: string, evidence: string, fix = REDEPLOY): PrivacyFinding => ({ id, ok, statement, evidence, fix });
  const missing = expected.excludedQueryParameters.filter((p) => !read.excludedQueryParameters.includes(p));
  const forbidden = FORBIDDEN_PLUGINS.filter((p) => p !== 'UserId' && read.activatedPlugins.includes(p));
  const findings = [
    finding('MATOMO-INSTALLED', read.superUsers >= 1, 'Matomo is installed, its super user created by code: nobody can complete the installer', `super users: ${read.superUsers}`),
    finding('MATOMO-IP', read.ipAnonymization.enabled && read.ipAnonymization.maskLength >= expected.ipMaskBytes && read.ipAnonymization.forEnrichment,
      `visitors' IP addresses are masked (at least ${expected.ipMaskBytes} bytes) before anything is stored or geolocated`,
      `enabled ${read.ipAnonymization.enabled}, mask ${read.ipAnonymization.maskLength} bytes, used for enrichment ${read.ipAnonymization.forEnrichment}`),
    finding('MATOMO-RETENTION', read.rawDataDeletion.enabled && read.rawDataDeletion.olderThanDays === expected.rawDataRetentionDays && read.rawDataDeletion.olderThanDays <= CNIL_MAX_RETENTION_DAYS,
      `raw visit data is deleted after ${expected.rawDataRetentionDays} days, as the city file and the volume's label say (CNIL: at most 25 months)`,
      `deletion enabled ${read.rawDataDeletion.enabled}, after ${read.rawDataDeletion.olderThanDays} days`),
    finding('MATOMO-DNT', read.doNotTrack === expected.doNotTrack, 'a browser\'s Do Not Track is honoured', `Do Not Track support ${read.doNotTrack}`),
    finding('MATOMO-USER-ID', !read.activatedPlugins.includes('UserId') && read.userIdPseudonymized, 'no User ID: visits are never tied to an account', `UserId plugin ${read.activatedPlugins.includes('UserId') ? 'active' : 'inactive'}, user ids pseudonymised ${read.userIdPseudonymized}`,
      'remove UserId from the [Plugins] of services/matomo (it is not in Socle\'s list), then restart'),
    finding('MATOMO-CROSS-SITE', !read.fingerprintingAcrossSites && !read.thirdPartyCookie, 'no tracking across sites: no third-party cookie, no fingerprint joined across the city\'s sites',
      `fingerprinting across sites ${read.fingerprintingAcrossSites}, third-party cookie ${read.thirdPartyCookie}`, 'set enable_fingerprinting_across_websites = 0 and use_third_party_id_cookie = 0 in [Tracker] (services/matomo/templates), then redeploy'),
    finding('MATOMO-CODES', missing.length === 0, 'no invitation code or account token is stored: those query parameters are excluded for every site',
      `excluded: ${read.excludedQueryParameters.join(', ') || 'none'}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`),
    finding('MATOMO-PHONE-HOME', !read.internetFeatures && forbidden.length === 0, 'Matomo contacts no third party: internet features off, no marketplace, newsletter, SEO, RSS or SMS plugin',
      `internet features ${read.internetFeatures}${forbidden.length ? `; active: ${forbidden.join(', ')}` : ''}`, 'set enable_internet_features = 0 and leave those plugins out of [Plugins] (services/matomo/templates), then redeploy'),
    finding('MATOMO-ARCHIVING', !read.browserArchiving, 'reports are computed by the archiver container, never on a visitor\'s request', `browser-triggered archiving ${read.browserArchiving}`),
  ];
  if (trackerScript !== undefined) {
    const cookieless = trackerScript.includes("'disableCookies'");
    findings.push(finding('MATOMO-COOKIES', cookieless, 'the tracker sets no cookie (CNIL: a measurement cookie lives at most 13 months; Socle sets none)',
      cookieless ? 'tracker snippet calls disableCookies' : 'tracker snippet does not call disableCookies', 'serve the tracker snippet from services/matomo/templates/socle-audience.js.tmpl'));
  }
  return findings;
}
