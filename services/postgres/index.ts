import { Construct } from 'constructs';
import { declareDatabase, type DatabaseConnection, type DatabaseEngine, type DatabaseProps, type IDatabase } from '../common/database.js';

export type PostgresProps = DatabaseProps;

const POSTGRES: DatabaseEngine = {
  engine: 'postgres',
  image: 'postgres',
  port: 5432,
  dataPath: '/var/lib/postgresql/data',
  user: 'postgres',
  tmpfs: { '/tmp': 64, '/run/postgresql': 8 },
  // The app's role owns its database (not a superuser); pg_dump runs as socle_backup, which can
  // read every table and write nothing (pg_read_all_data). Every TCP client authenticates with
  // scram-sha-256 (services/postgres/entrypoint.sh).
  env: (database, user, password, dumpPassword) => ({
    POSTGRES_DB: database,
    POSTGRES_USER: user,
    POSTGRES_PASSWORD: password,
    POSTGRES_BACKUP_PASSWORD: dumpPassword,
    PGDATA: '/var/lib/postgresql/data/pgdata',
  }),
  dumpUser: 'socle_backup',
  healthcheck: (database) => ['CMD-SHELL', `pg_isready --host=127.0.0.1 --dbname=${database} --quiet`],
};

/** PostgreSQL for one app, on that app's internal data network. @stateful - data volume, dumped by the backup runner */
export class Postgres extends Construct implements IDatabase {
  public readonly connection: DatabaseConnection;

  constructor(scope: Construct, id: string, props: PostgresProps) {
    super(scope, id);
    this.connection = declareDatabase(this, props, POSTGRES);
  }
}
