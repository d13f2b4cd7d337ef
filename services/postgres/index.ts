import { Construct } from 'constructs';
import type { DatabaseConnection, DatabaseProps, IDatabase } from '../common/database.js';
import { Platform } from '../common/platform.js';

export type PostgresProps = DatabaseProps;

/** PostgreSQL for one app, on that app's internal data network. @stateful - data volume, dumped by the backup runner */
export class Postgres extends Construct implements IDatabase {
  public readonly connection: DatabaseConnection;

  constructor(scope: Construct, id: string, props: PostgresProps) {
    super(scope, id);
    const platform = Platform.of(this);
    const database = props.database ?? props.service;
    const user = props.user ?? props.service;
    const password = platform.generatedSecret(this, 'password');
    const data = platform.volume(this, {
      name: `${props.service}-postgres`, service: props.service, category: 'personal',
      retention: props.retention ?? 'duration of the service, then deleted',
      // Raw files of a running server are not a consistent copy: the backup runner dumps it instead.
      backup: false,
    });
    const container = platform.container(this, 'Resource', {
      service: props.service,
      role: 'db',
      image: 'postgres',
      env: {
        POSTGRES_DB: database,
        POSTGRES_USER: user,
        POSTGRES_PASSWORD: password,
        // scram-sha-256 for every TCP client; the app user owns its database and nothing else.
        POSTGRES_HOST_AUTH_METHOD: 'scram-sha-256',
        PGDATA: '/var/lib/postgresql/data/pgdata',
      },
      networks: [{ network: props.network, aliases: [`${props.service}-db`] }],
      volumes: [{ volume: data, path: '/var/lib/postgresql/data' }],
      tmpfs: { '/tmp': 64, '/run/postgresql': 8 },
      user: 'postgres',
      healthcheck: { test: ['CMD-SHELL', `pg_isready --host=127.0.0.1 --dbname=${database} --quiet`], startPeriodSec: 60 },
      memoryMiB: props.memoryMiB ?? 512,
    });
    this.connection = {
      engine: 'postgres', service: props.service, host: `${props.service}-db`, port: 5432, database, user,
      password, adminPassword: password, network: props.network, containerName: container.containerName,
    };
  }
}
