// A DNS server the test makes on loopback (Debian's dnsmasq), answering for the test city's zone
// only from what the test gives it: the "internet's" view of the city's names, planted violations
// included (a CNAME to a CDN, an address elsewhere, name servers at a registrar). It forwards
// nothing: a name it was not given is not answered from anywhere else.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';

export interface ZoneData {
  /** Zones answered locally (NODATA for a type not given, never forwarded). */
  readonly zones: readonly string[];
  readonly addresses?: Readonly<Record<string, string>>;
  readonly cnames?: Readonly<Record<string, string>>;
  /** Name servers of a zone (NS records). */
  readonly nameServers?: Readonly<Record<string, string>>;
}

export interface TestResolver {
  /** `127.0.0.1:PORT`, for --dns. */
  readonly address: string;
  stop(): void;
}

/** A domain name in DNS wire format, as hex (dnsmasq's dns-rr takes raw record data). */
function wireName(name: string): string {
  return `${name.split('.').map((label) => label.length.toString(16).padStart(2, '0') + Buffer.from(label).toString('hex')).join('')}00`;
}

export function startResolver(port: number, data: ZoneData): TestResolver {
  const dir = tempDir('socle-dns-');
  const lines = [
    `port=${port}`, 'listen-address=127.0.0.1', 'bind-interfaces', 'no-resolv', 'no-hosts', 'no-poll',
    ...data.zones.map((z) => `local=/${z}/`),
    ...Object.entries(data.addresses ?? {}).map(([n, a]) => `host-record=${n},${a}`),
    ...Object.entries(data.cnames ?? {}).map(([n, target]) => `cname=${n},${target}`),
    ...Object.entries(data.nameServers ?? {}).map(([zone, ns]) => `dns-rr=${zone},2,${wireName(ns)}`),
  ];
  writeFileSync(join(dir, 'dnsmasq.conf'), `${lines.join('\n')}\n`);
  const pidFile = join(dir, 'dnsmasq.pid');
  const r = spawnSync('dnsmasq', [`--conf-file=${join(dir, 'dnsmasq.conf')}`, `--pid-file=${pidFile}`, `--log-facility=${join(dir, 'dnsmasq.log')}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dnsmasq did not start: ${r.stderr}`);
  return {
    address: `127.0.0.1:${port}`,
    stop: () => {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()));
      } catch {
        // Already gone.
      }
    },
  };
}
