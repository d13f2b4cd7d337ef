// Is the host's firewall rule active? The Ansible role (docker_host) loads table inet socle_host,
// which keeps containers away from the services the host itself listens on (sshd, ...). A host
// prepared by hand, or a rule lost since, silently reopens them, so the deploy checks before it
// applies anything.
//
// The check is made the way the rule fails, not by reading rules (the deploy user cannot list them
// without root): over the same SSH connection as the provider, a throwaway container on a throwaway
// Socle bridge opens a TCP connection to the bridge's own address on the host's SSH port. The rule
// drops it, so the attempt times out; without the rule the host answers, by accepting or refusing.
// The probe's network is internal (no route out): it sends nothing beyond the host.
import { bridgePrefix } from '../../stacks/host-stack.js';
import { imageReference } from '../../services/common/images.js';
import { LABEL } from '../../core/labels.js';
import { StepError } from '../../core/errors.js';
import type { StackTarget } from './deploy.js';
import { runOnHost } from './run.js';

/** Seconds the probe waits for an answer (on the host itself, an answer takes well under a millisecond); the rule drops, so a protected host always takes this long. */
const PROBE_TIMEOUT_SEC = 1;

export interface FirewallProbe {
  /** True when the connection was dropped: the rule is active. */
  readonly active: boolean;
  /** What the probe saw, in words. */
  readonly seen: string;
}

// $1 network, $2 bridge, $3 image, $4 port, $5 timeout, $6 commune label, $7 host label, $8 registry
// user (empty: no login), $9 registry host. The registry password, when there is one, comes on standard input.
const PROBE_SCRIPT = `
set -u
net=$1 bridge=$2 image=$3 port=$4 timeout=$5
if ! docker image inspect "$image" >/dev/null 2>&1; then
  if [ -n "$8" ]; then
    # A throwaway client configuration: the registry password is not left on the host.
    DOCKER_CONFIG=$(mktemp -d); export DOCKER_CONFIG
    trap 'rm -rf "$DOCKER_CONFIG"' EXIT
    docker login --username "$8" --password-stdin "$9" >/dev/null || { echo "probe: cannot log in to the registry"; exit 3; }
  fi
  docker pull --quiet "$image" >/dev/null || { echo "probe: cannot pull $image"; exit 3; }
fi
docker network rm "$net" >/dev/null 2>&1
docker network create --internal --label "$6" --label "$7" --label fr.socle.role=firewall-probe \
  --opt com.docker.network.bridge.name="$bridge" "$net" >/dev/null || { echo "probe: cannot create network $net"; exit 3; }
gateway=$(docker network inspect --format '{{(index .IPAM.Config 0).Gateway}}' "$net")
docker run --rm --network "$net" --label "$6" --label "$7" --cap-drop ALL --user 65534:65534 --read-only --memory 32m \
  --entrypoint timeout "$image" "$timeout" bash -c ": > /dev/tcp/$gateway/$port" 2>&1
code=$?
docker network rm "$net" >/dev/null 2>&1
echo "probe: gateway=$gateway exit=$code"
`;

/**
 * Runs the probe on the target's host; `registryPassword` lets the host pull the probe's image
 * when it is not there yet. Throws when it cannot tell (no image, no Docker).
 */
export async function probeHostFirewall(t: StackTarget, registryPassword = '', env: NodeJS.ProcessEnv = process.env): Promise<FirewallProbe> {
  const slug = t.city.commune.slug;
  const image = imageReference('base', t.city.registry, t.city.images);
  const args = ['bash', '-c', PROBE_SCRIPT, 'socle-firewall-probe',
    `${slug}-firewall-probe`, `${bridgePrefix(slug)}fwprobe`, image, String(t.host.ssh.port), String(PROBE_TIMEOUT_SEC),
    `${LABEL.commune}=${slug}`, `${LABEL.host}=${t.host.name}`, t.city.registry.username ?? '', t.city.registry.host];
  const r = await runOnHost(t.host.ssh, args, registryPassword, env);
  const result = /probe: gateway=(\S+) exit=(\d+)/.exec(r.stdout);
  if (!result) {
    throw new StepError(`${t.name}: could not check the host firewall on ${t.host.name} (ssh exit ${r.code}):\n  ${(r.stdout + r.stderr).trim().split('\n').slice(-6).join('\n  ')}\n`
      + `  fix: check SSH access and that ${t.host.ssh.user} may use Docker on ${t.host.name} and pull ${image}`);
  }
  const [, gateway, code] = result;
  const to = `${gateway}:${t.host.ssh.port} (a Socle bridge's address on the host)`;
  if (code === '124') return { active: true, seen: `a container's connection to ${to} was dropped` };
  if (code === '0') return { active: false, seen: `a container connected to ${to}` };
  if (/refused/i.test(r.stdout)) return { active: false, seen: `the host itself refused a container's connection to ${to}: nothing filters it` };
  throw new StepError(`${t.name}: the host firewall probe on ${t.host.name} ended unexpectedly (exit ${code}):\n  ${r.stdout.trim().split('\n').slice(-6).join('\n  ')}`);
}

/** What to run on the deploying machine so that the rule is loaded (and kept at boot). */
export function firewallFix(hostName: string): string {
  return `prepare the host with the Ansible role: ansible-playbook -i INVENTORY ansible/site.yml --limit ${hostName} --tags docker_host_firewall`
    + ' (it loads table inet socle_host now and at every boot, before Docker starts)';
}
