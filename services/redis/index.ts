import { Construct } from 'constructs';
import type { INetwork } from '../common/platform.js';
import { Platform } from '../common/platform.js';

export interface RedisProps {
  /** Service that owns the cache and queues, e.g. `consultation`. */
  readonly service: string;
  /** The app's data-tier network (internal). */
  readonly network: INetwork;
  /** @default 256 */
  readonly memoryMiB?: number;
}

/** Redis with a password and an append-only file: job queues survive a restart. @stateful */
export class Redis extends Construct {
  /** `redis://:<password>@<host>:6379/0`, the password being a reference. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: RedisProps) {
    super(scope, id);
    const platform = Platform.of(this);
    const password = platform.generatedSecret(this, 'password');
    const memoryMiB = props.memoryMiB ?? 256;
    // Queued jobs carry e-mail addresses and user ids: personal data, kept until processed.
    const data = platform.volume(this, { name: `${props.service}-redis`, service: props.service, category: 'personal', retention: 'jusqu’au traitement des tâches en file', retentionEnforcedBy: 'les processus de l’application, qui retirent chaque tâche une fois traitée' });
    const host = `${props.service}-redis`;
    platform.container(this, 'Resource', {
      service: props.service,
      role: 'redis',
      image: 'redis',
      command: ['redis-server', '--appendonly', 'yes', '--dir', '/data', '--protected-mode', 'yes', '--bind', '0.0.0.0',
        '--maxmemory', `${Math.floor(memoryMiB * 0.75)}mb`, '--requirepass', password],
      // redis-cli reads the password from REDISCLI_AUTH: the healthcheck never shows it on a command line.
      env: { REDISCLI_AUTH: password },
      networks: [{ network: props.network, aliases: [host] }],
      volumes: [{ volume: data, path: '/data' }],
      tmpfs: { '/tmp': 16 },
      user: 'redis',
      healthcheck: { test: ['CMD-SHELL', 'redis-cli -h 127.0.0.1 ping | grep -q PONG'] },
      memoryMiB,
    });
    this.url = `redis://:${password}@${host}:6379/0`;
  }
}
