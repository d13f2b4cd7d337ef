import type { Construct } from 'constructs';
import { Platform, type INetwork, type IPlatform } from './platform.js';

/** `fr.socle.role` of every database server container (npm run backup finds them by it). */
export const DATABASE_ROLE = 'db';

/** One account on one database server, and where to reach it. */
export interface DatabaseAccount {
  readonly engine: 'mariadb' | 'postgres';
  /** Service the database belongs to (for backups and the register). */
  readonly service: string;
  /** Name other containers use on the data network. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** A reference to a generated value, never a literal. */
  readonly password: string;
  /** The internal network the database listens on. */
  readonly network: INetwork;
}

/**
 * How an app reaches its database; handed out by the database construct, never typed by hand.
 * It holds the app's own account only: the dump account is the backup runner's (DumpAccount).
 */
export interface DatabaseConnection extends DatabaseAccount {
  /** The engine name of the container, e.g. `ville-exemple-limesurvey-db`. */
  readonly containerName: string;
}

/** The account the backup runner dumps a database with (read-only where the engine allows). */
export type DumpAccount = DatabaseAccount;

// Dump accounts by platform (host): registered by each database as it is declared, read by the
// backup runner of that host when the stack is synthesized. Apps never see them.
const DUMP_ACCOUNTS = new WeakMap<IPlatform, DumpAccount[]>();

/** The dump accounts of every database declared on a platform so far (the backup runner reads them lazily). */
export function dumpAccountsOf(platform: IPlatform): readonly DumpAccount[] {
  return DUMP_ACCOUNTS.get(platform) ?? [];
}

export interface IDatabase {
  readonly connection: DatabaseConnection;
}

export interface DatabaseProps {
  /** Service that owns the database, e.g. `limesurvey`. */
  readonly service: string;
  /** The app's data-tier network (internal). */
  readonly network: INetwork;
  /** @default the service name */
  readonly database?: string;
  /** @default the service name */
  readonly user?: string;
  /** @default 512 */
  readonly memoryMiB?: number;
  /** How long the data is kept, for the register. @default 'durée du service, puis suppression' */
  readonly retention?: string;
  /** What deletes the data once the retention is over (see VolumeProps). @default nothing */
  readonly retentionEnforcedBy?: string;
}

/** What differs between database engines; the rest of a database server is the same. */
export interface DatabaseEngine {
  readonly engine: DatabaseConnection['engine'];
  /** Image catalog key. */
  readonly image: string;
  readonly port: number;
  /** Where the server keeps its files. */
  readonly dataPath: string;
  /** Unix user of the server in its image. */
  readonly user: string;
  readonly tmpfs: Readonly<Record<string, number>>;
  /** Environment initializing the database and its owner on first start. */
  env(database: string, user: string, password: string, dumpPassword: string): Record<string, string>;
  healthcheck(database: string): readonly string[];
  /** A read-only account for dumps, when the engine has one; otherwise the app's owner dumps. */
  readonly dumpUser?: string;
}

/**
 * Declares one database server for one app, on that app's internal data network, with its data on
 * a personal-data volume. The backup runner dumps it rather than copying its live files.
 */
export function declareDatabase(scope: Construct, props: DatabaseProps, engine: DatabaseEngine): DatabaseConnection {
  const platform = Platform.of(scope);
  const database = props.database ?? props.service;
  const user = props.user ?? props.service;
  const password = platform.generatedSecret(scope, 'password');
  const dumpPassword = engine.dumpUser ? platform.generatedSecret(scope, 'dump-password') : password;
  const data = platform.volume(scope, {
    name: `${props.service}-${engine.engine}`, service: props.service, category: 'personal',
    retention: props.retention ?? 'durée du service, puis suppression',
    retentionEnforcedBy: props.retentionEnforcedBy,
    // Raw files of a running server are not a consistent copy: the backup runner dumps it instead.
    backup: false, dumped: true,
  });
  const host = `${props.service}-db`;
  const container = platform.container(scope, 'Resource', {
    service: props.service,
    role: DATABASE_ROLE,
    image: engine.image,
    env: engine.env(database, user, password, dumpPassword),
    networks: [{ network: props.network, aliases: [host] }],
    volumes: [{ volume: data, path: engine.dataPath }],
    tmpfs: engine.tmpfs,
    user: engine.user,
    healthcheck: { test: engine.healthcheck(database), startPeriodSec: 60 },
    memoryMiB: props.memoryMiB ?? 512,
  });
  const accounts = DUMP_ACCOUNTS.get(platform) ?? [];
  accounts.push({ engine: engine.engine, service: props.service, host, port: engine.port, database, user: engine.dumpUser ?? user, password: dumpPassword, network: props.network });
  DUMP_ACCOUNTS.set(platform, accounts);
  return { engine: engine.engine, service: props.service, host, port: engine.port, database, user, password, network: props.network, containerName: container.containerName };
}
