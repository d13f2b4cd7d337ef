import type { INetwork } from './platform.js';

/** How an app reaches its database; handed out by the database construct, never typed by hand. */
export interface DatabaseConnection {
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
  /** Generated superuser password, for dumps and restores. */
  readonly adminPassword: string;
  /** The internal network the database listens on. */
  readonly network: INetwork;
  /** The engine name of the container, e.g. `ville-exemple-limesurvey-db`. */
  readonly containerName: string;
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
  /** How long the data is kept, for the register. @default 'duration of the service, then deleted' */
  readonly retention?: string;
}
