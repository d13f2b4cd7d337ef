import { Construct } from 'constructs';
import type { DatabaseConnection, DatabaseProps, IDatabase } from '../common/database.js';
import { Platform } from '../common/platform.js';

export type MariaDbProps = DatabaseProps;

/** MariaDB for one app, on that app's internal data network. @stateful - data volume, dumped by the backup runner */
export class MariaDb extends Construct implements IDatabase {
  public readonly connection: DatabaseConnection;

  constructor(scope: Construct, id: string, props: MariaDbProps) {
    super(scope, id);
    const platform = Platform.of(this);
    const database = props.database ?? props.service;
    const user = props.user ?? props.service;
    const password = platform.generatedSecret(this, 'password');
    const adminPassword = platform.generatedSecret(this, 'root-password');
    const data = platform.volume(this, {
      name: `${props.service}-mariadb`, service: props.service, category: 'personal',
      retention: props.retention ?? 'duration of the service, then deleted',
      // Raw files of a running server are not a consistent copy: the backup runner dumps it instead.
      backup: false,
    });
    const container = platform.container(this, 'Resource', {
      service: props.service,
      role: 'db',
      image: 'mariadb',
      env: {
        MARIADB_DATABASE: database,
        MARIADB_USER: user,
        MARIADB_PASSWORD: password,
        MARIADB_ROOT_PASSWORD: adminPassword,
        // Listen only where the app can reach it; no name resolution of clients (no DNS egress needed).
        MARIADB_SKIP_NAME_RESOLVE: '1',
      },
      networks: [{ network: props.network, aliases: [`${props.service}-db`] }],
      volumes: [{ volume: data, path: '/var/lib/mysql' }],
      tmpfs: { '/tmp': 64, '/run/mysqld': 8 },
      user: 'mysql',
      healthcheck: { test: ['CMD-SHELL', 'mariadb-admin ping --host=127.0.0.1 --silent'], startPeriodSec: 60 },
      memoryMiB: props.memoryMiB ?? 512,
    });
    this.connection = {
      engine: 'mariadb', service: props.service, host: `${props.service}-db`, port: 3306, database, user,
      password, adminPassword, network: props.network, containerName: container.containerName,
    };
  }
}
