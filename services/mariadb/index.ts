import { Construct } from 'constructs';
import { declareDatabase, type DatabaseConnection, type DatabaseEngine, type DatabaseProps, type IDatabase } from '../common/database.js';

export type MariaDbProps = DatabaseProps;

const MARIADB: DatabaseEngine = {
  engine: 'mariadb',
  image: 'mariadb',
  port: 3306,
  dataPath: '/var/lib/mysql',
  user: 'mysql',
  tmpfs: { '/tmp': 64, '/run/mysqld': 8 },
  // SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES only (services/mariadb/entrypoint.sh).
  dumpUser: 'socle_backup',
  env: (database, user, password, dumpPassword) => ({
    MARIADB_DATABASE: database,
    MARIADB_USER: user,
    MARIADB_PASSWORD: password,
    MARIADB_BACKUP_PASSWORD: dumpPassword,
  }),
  healthcheck: () => ['CMD-SHELL', 'mariadb-admin ping --host=127.0.0.1 --silent'],
};

/** MariaDB for one app, on that app's internal data network. @stateful - data volume, dumped by the backup runner */
export class MariaDb extends Construct implements IDatabase {
  public readonly connection: DatabaseConnection;

  constructor(scope: Construct, id: string, props: MariaDbProps) {
    super(scope, id);
    this.connection = declareDatabase(this, props, MARIADB);
  }
}
