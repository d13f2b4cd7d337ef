/**
 * The city configuration after validation, with every default applied. `city.schema.json` is the
 * source of truth for what a file may contain; these types mirror it for the code.
 */
export type SecretRef = { readonly env: string } | { readonly file: string };

export interface HostConfig {
  readonly name: string;
  readonly ssh: {
    readonly user: string; readonly address: string; readonly port: number;
    /** Absolute path of the known_hosts file the deploy pins this host's key with. */
    readonly knownHosts?: string;
    /** Absolute path of the deploy's private key. */
    readonly identityFile?: string;
  };
  /** Address other city hosts use to reach this one; defaults to the SSH address. */
  readonly privateAddress: string;
  readonly site: string;
  readonly owner: string;
}

/** Who administers the hosts, from where, and the city's services they use (npm run provision). */
export interface HostingConfig {
  readonly adminNetworks: readonly string[];
  readonly admins: ReadonlyArray<{ readonly name: string; readonly keys: readonly string[] }>;
  /** Absolute path of the private key provision connects with, as the first admin. */
  readonly identityFile?: string;
  readonly dns: readonly string[];
  readonly ntp: readonly string[];
  readonly debianMirror: string;
  readonly debianSecurityMirror: string;
  readonly journalDays: number;
  /** Absolute path of the city's CA (PEM). */
  readonly ca?: string;
}

export interface ImagePin {
  readonly tag?: string;
  readonly digest?: string;
  /** For an image built from an upstream release: the archive the city builds it from instead of the catalog's. */
  readonly release?: { readonly version: string; readonly url: string; readonly sha256: string };
}

export interface ServicePlacement { readonly host: string }

/** Someone the commune relies on without owning it, and why (see commune.owns). */
export interface ExternalParty {
  readonly name: string; readonly host?: string; readonly address?: string;
  readonly role: 'registry' | 'mail-relay' | 'backup-storage' | 'public-hostname';
  readonly reason: string;
}

export interface CityConfig {
  /** The file this configuration was read from (for messages and the summary). */
  readonly file: string;
  /** `file:line` of a field of the city file, for messages written after loading. */
  readonly locate: (keys: ReadonlyArray<string | number>) => string;
  readonly commune: {
    readonly slug: string;
    readonly name: string;
    readonly legalEntity: string;
    readonly siren?: string;
    readonly address: { readonly street: string; readonly postcode: string; readonly city: string };
    readonly phone: string;
    readonly email: string;
    /** @default mailto: the town hall's email */
    readonly securityContact: string;
    readonly publicationDirector: string;
    readonly dpo: { readonly name: string; readonly email: string; readonly postalAddress?: string };
    readonly owns: { readonly domains: readonly string[]; readonly networks: readonly string[] };
  };
  readonly domain: string;
  readonly hosts: readonly HostConfig[];
  /** How npm run provision prepares the hosts; absent, provisioning is refused. */
  readonly hosting?: HostingConfig;
  readonly registry: { readonly host: string; readonly namespace: string; readonly username?: string; readonly password?: SecretRef };
  readonly images: Readonly<Record<string, ImagePin>>;
  readonly mail: {
    readonly relay: {
      readonly host: string; readonly address: string; readonly port: number; readonly security: 'starttls' | 'tls'; readonly user: string; readonly password: SecretRef;
      /** Absolute path of the CA file the relay's certificate chains to. @default the CAs Debian trusts */
      readonly ca?: string;
    };
    readonly from: string;
    /** Who receives Socle's own alerts (at least one when backups are on). */
    readonly alerts: readonly string[];
    /** Public addresses the relay sends from (SPF ip4:). @default SPF names the relay host (a:) */
    readonly sending: { readonly publicAddresses?: readonly string[] };
    readonly dkim: { readonly selector: string };
    /** @default reports: dmarc@<sending domain> */
    readonly dmarc: { readonly reports: string; readonly policy: 'none' | 'quarantine' | 'reject' };
    readonly mtaSts: boolean;
    readonly tlsRpt: boolean;
  };
  readonly tls: { readonly mode: 'files' | 'acme'; readonly files?: { readonly directory: string }; readonly acme?: { readonly directoryUrl: string; readonly email: string } };
  readonly services: {
    readonly proxy: ServicePlacement & { readonly bindAddress: string; readonly httpPort: number; readonly httpsPort: number; readonly accessLogRetentionDays: number; readonly accessLogMaxMiB: number; readonly memoryMiB: number };
    readonly consultation: ServicePlacement & {
      readonly enabled: boolean; readonly hostname: string; readonly upstreamPort: number; readonly preset: 'decidim'; readonly image?: string; readonly port?: number;
      readonly env: Readonly<Record<string, string>>; readonly memoryMiB: number; readonly workerMemoryMiB: number;
    };
    readonly limesurvey: ServicePlacement & { readonly enabled: boolean; readonly hostname: string; readonly upstreamPort: number; readonly image?: string; readonly memoryMiB: number; readonly answersKeptDays: number };
    readonly matomo: ServicePlacement & { readonly enabled: boolean; readonly hostname: string; readonly upstreamPort: number; readonly archiveIntervalMinutes: number; readonly rawDataRetentionDays: number; readonly image?: string; readonly memoryMiB: number };
    readonly onion: ServicePlacement & { readonly enabled: boolean; readonly offline: boolean };
    readonly backup: {
      readonly enabled: boolean; readonly schedule: string; readonly checkEveryDays: number; readonly maxAgeHours: number;
      readonly retention: { readonly daily: number; readonly weekly: number; readonly monthly: number };
      readonly password?: SecretRef;
      readonly targets: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number; readonly user: string; readonly path: string; readonly site?: string;
        /** npm run provision prepares this storage host (role backup_storage). */
        readonly prepare: boolean;
        /** Absolute path of the known_hosts file pinning its key, for provision. */
        readonly knownHosts?: string;
      }>;
      readonly store?: { readonly host: string; readonly port: number };
    };
  };
  readonly externalParties: readonly ExternalParty[];
  /** OpenTofu state: where it lives (absolute) and the key that encrypts it. */
  readonly state: { readonly directory?: string; readonly passphrase: SecretRef };
  readonly policy: { readonly suppressions: ReadonlyArray<{ readonly id: string; readonly path: string; readonly reason: string }> };
}

export type ServiceName = keyof CityConfig['services'];
