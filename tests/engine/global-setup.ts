// Runs once before the suite and makes this machine the city host the engine tests deploy to:
// the Docker engine (installed and started on a fresh Debian machine when run as root), OpenTofu
// and the providers built from the Go module proxy (cached), an sshd and a registry on loopback,
// Socle's images built from Debian and pushed with `npm run build-images -- --push`, the stand-in
// app image, the "outside" host in a network namespace, the fresh Debian host image npm run
// provision's test starts three of (tests/engine/debian-hosts.ts), and the test MTA standing in
// for the city's Zimbra (tests/engine/mta.ts). Without root or Debian it stops with what to install; it never skips.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { ensureEngine } from '../../scripts/lib/docker-engine.js';
import { buildTools, checkLock } from '../../scripts/lib/tools.js';
import { imageReference } from '../../services/common/images.js';
import { BUILDABLE } from '../../scripts/lib/images.js';
import { lookedIn, presentArchive } from './release-archives.js';
import { ROOT, TSX, tempDir } from '../helpers.js';
import { BUILD_REGISTRY, CITY_REGISTRY, ensureOutside, ensureRegistry, ensureSsh } from './test-host.js';
import { MTA, ensureMta } from './mta.js';
import { ensureDebianHostImage } from './debian-hosts.js';

/** The registry name images are built and pushed under (the test cities pull them as localhost:15000). */
export const TEST_REGISTRY = BUILD_REGISTRY;

/** What the suite needs besides the engine, by the command that proves each installed. */
const TEST_PACKAGES = {
  openssl: 'openssl', curl: 'curl', chromium: 'chromium', nft: 'nftables', ssh: 'openssh-client', sshd: 'openssh-server',
  'docker-registry': 'docker-registry', ip: 'iproute2',
  'ansible-playbook': 'ansible-core', 'ansible-lint': 'ansible-lint', yamllint: 'yamllint', shellcheck: 'shellcheck',
  // PDF text and page rendering, for the invitation letters' tests.
  pdftotext: 'poppler-utils',
  // A DNS server on loopback answering for the test city's zone, for the live audit.
  dnsmasq: 'dnsmasq-base',
};

export default async function setup(): Promise<void> {
  const say = (line: string) => process.stderr.write(`[engine] ${line}\n`);
  await ensureEngine(say, TEST_PACKAGES);
  const tools = await buildTools({ say });
  const lock = await checkLock(tools.tools);
  if (!lock.ok) throw new Error(`the providers built here do not match stacks/terraform.lock.hcl:\n${lock.differences.join('\n')}`);
  const built = tools.steps.filter((s) => !s.cached);
  say(`deploy tools ready${built.length ? `: cold build ${built.reduce((n, s) => n + s.seconds, 0).toFixed(0)} s (${built.map((s) => `${s.name} ${s.seconds.toFixed(0)} s`).join(', ')})` : ' (cached)'}`);
  await ensureSsh();
  await ensureRegistry();
  await ensureOutside();
  say(`test host: sshd 127.0.0.1:15022, registry ${BUILD_REGISTRY.host}, outside host 198.18.0.2 (network namespace)`);
  // The images, built and pushed by the command a city uses.
  const buildCity = join(tempDir(), 'registre.yaml');
  writeFileSync(buildCity, (await $({ quiet: true })`cat ${join(ROOT, 'tests/fixtures/ville-test.yaml')}`).stdout.replace(/^registry: .*$/m, `registry: { host: "${BUILD_REGISTRY.host}", namespace: ${BUILD_REGISTRY.namespace} }`).replace('TLS_DIRECTORY', '/tmp'));
  // Its progress (stderr) goes straight to the terminal: a cold build takes minutes.
  // Images built from an upstream release only when this machine holds the archive: the test city
  // then names that archive (its own checksum) as the release, as a city file may.
  const releaseArgs: string[] = [];
  const skipped = new Set<string>();
  let buildYaml = readFileSync(buildCity, 'utf8');
  for (const { key } of BUILDABLE.filter((b) => b.release)) {
    const archive = presentArchive(key);
    if (!archive) {
      say(`${key} image NOT BUILT: no release archive on this machine (looked in ${lookedIn(key)}); the tests that need it will say they did not run`);
      skipped.add(key);
      continue;
    }
    buildYaml += `${buildYaml.includes('\nimages:') ? '' : 'images:\n'}  ${key}: { release: { version: "${archive.version}", url: "file://${archive.file}", sha256: ${archive.sha256} } }\n`;
    releaseArgs.push('--archive', `${key}=${archive.file}`);
    say(`${key} image built from ${archive.file} (${archive.version})`);
  }
  writeFileSync(buildCity, buildYaml);
  const only = BUILDABLE.filter((b) => !skipped.has(b.key)).flatMap((b) => ['--only', b.key]);
  const images = await $({ nothrow: true, quiet: true, stdio: ['ignore', 'pipe', 'inherit'] })`${TSX} ${join(ROOT, 'scripts/build-images.ts')} --config ${buildCity} --push ${only} ${releaseArgs}`;
  if (images.exitCode !== 0) throw new Error('npm run build-images -- --push failed: see its output above');
  say(`images built and pushed:\n${images.stdout.trim()}`);
  // The stand-in for app images that cannot exist here (see tests/fixtures/stand-in-app/Dockerfile).
  const standIn = imageReference('stand-in-app', BUILD_REGISTRY, {});
  await $({ quiet: true })`docker build --quiet --build-arg ${`BASE=${imageReference('nginx', BUILD_REGISTRY, {})}`} --tag ${standIn} ${join(ROOT, 'tests/fixtures/stand-in-app')}`;
  await $({ quiet: true })`docker push ${standIn}`;
  // The city's Zimbra stand-in (Postfix, Dovecot, OpenDKIM), from Socle's base image built above.
  await ensureDebianHostImage();
  say('fresh Debian host image built (systemd, sshd; tests/engine/debian-host), for npm run provision\'s test');
  await ensureMta();
  say(`test MTA: Postfix + Dovecot at ${MTA.address} (587 STARTTLS, 465, 993; no-STARTTLS ${MTA.noStartTlsAddress}, wrong name ${MTA.wrongNameAddress}, switchable ${MTA.switchableAddress}, foreign hop ${MTA.foreignHopAddress}), CA ${MTA.caFile}`);
  // The cities' name for the registry must have no local tag: each deploy pulls what it runs.
  const cityTags = (await $({ quiet: true })`docker image ls --format ${'{{.Repository}}:{{.Tag}}'} ${`${CITY_REGISTRY.host}/*/*`}`).stdout.trim().split('\n').filter(Boolean);
  if (cityTags.length) await $({ quiet: true, nothrow: true })`docker image rm ${cityTags}`;
}
