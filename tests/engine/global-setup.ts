// Runs once before the suite: a Docker engine must answer (installed and started on a fresh Debian
// machine when run as root) and Socle's images must exist for the test city's registry. Images are
// rebuilt only when their recipe changed. Without root or Debian it stops with what to install.
import { ensureEngine } from '../../scripts/lib/engine.js';
import { buildImages } from '../../scripts/lib/images.js';

export const TEST_REGISTRY = { host: 'registre.ville-test.fr', namespace: 'socle' };

/** What the suite needs besides the engine: TLS and HTTP probes, a browser, the firewall, Ansible lint. */
const TEST_PACKAGES = {
  openssl: 'openssl', curl: 'curl', chromium: 'chromium', nft: 'nftables', sftp: 'openssh-client',
  'ansible-playbook': 'ansible-core', 'ansible-lint': 'ansible-lint', yamllint: 'yamllint', shellcheck: 'shellcheck',
  // PDF text and page rendering, for the invitation letters' tests.
  pdftotext: 'poppler-utils',
};

export default async function setup(): Promise<void> {
  const say = (line: string) => process.stderr.write(`[engine] ${line}\n`);
  await ensureEngine(say, TEST_PACKAGES);
  const built = await buildImages({ registry: TEST_REGISTRY, onProgress: say });
  say(`images ready: ${built.map((b) => `${b.key} ${b.sizeMB.toFixed(0)} MB${b.cached ? '' : ` (built in ${b.seconds.toFixed(0)} s)`}`).join(', ')}`);
}
