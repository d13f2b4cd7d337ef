import { Construct } from 'constructs';
import { Platform, type INetwork } from '../common/platform.js';
import { suppress } from '../../core/suppressions.js';

export interface BackupStoreProps {
  /** Private address of the storage host: the only address the SFTP port binds to. */
  readonly address: string;
  /** @default 2222 */
  readonly port?: number;
  /** Reference to the public key(s) of the backup runners allowed in. */
  readonly authorizedKeys: string;
  /** @default 256 */
  readonly memoryMiB?: number;
}

/**
 * SFTP endpoint on the city's backup storage host, holding the restic repositories (encrypted with
 * the city's key). @stateful - the repositories
 */
export class BackupStore extends Construct {
  /** Published on the storage host's private address, for runners on other hosts. */
  public readonly port: number;
  /** For a runner on the same host: this network, where the store answers as `backup-store:2222`. */
  public readonly network: INetwork;
  public readonly localAddress = { host: 'backup-store', port: 2222 } as const;

  constructor(scope: Construct, id: string, props: BackupStoreProps) {
    super(scope, id);
    const platform = Platform.of(this);
    this.port = props.port ?? 2222;
    const network = platform.network(this, { name: 'backup-store', tier: 'egress' });
    this.network = network;
    const repositories = platform.volume(this, {
      name: 'backup-store', service: 'backup-store', category: 'personal', retention: 'selon la politique de conservation restic', retentionEnforcedBy: 'restic forget --prune, une fois par jour, par le conteneur de sauvegarde (services.backup.retention)',
      // It is the backup: copying it again into itself would loop.
      backup: false,
    });
    const hostKeys = platform.volume(this, { name: 'backup-store-hostkeys', service: 'backup-store', category: 'secret', retention: 'durée de vie du stockage' });
    const store = platform.container(this, 'Resource', {
      service: 'backup-store',
      role: 'sftp',
      image: 'sftp',
      command: ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/socle/sshd_config'],
      networks: [{ network, aliases: [this.localAddress.host] }],
      ports: [{ internal: this.localAddress.port, external: this.port, ip: props.address }],
      volumes: [{ volume: repositories, path: '/srv/restic' }, { volume: hostKeys, path: '/etc/ssh/socle/keys' }],
      uploads: [{ path: '/etc/socle/authorized_keys', content: props.authorizedKeys }],
      tmpfs: { '/tmp': 16, '/run/sshd': 1 },
      user: 'restic',
      healthcheck: { test: ['CMD', 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/2222'] },
      memoryMiB: props.memoryMiB ?? 256,
    });
    suppress(store.construct, [{ id: 'Socle-NET1', reason: `SFTP for restic, bound to the storage host's private address ${props.address} only` }]);
  }
}
