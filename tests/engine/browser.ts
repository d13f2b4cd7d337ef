// Debian's Chromium, headless, for the pages a person would see: no background traffic of the
// browser's own, and the names the test gives resolved where it says (loopback, a container),
// never by a resolver outside the machine.
import type { Browser } from 'playwright-core';

/** `resolverRules`: Chromium's --host-resolver-rules, e.g. `MAP *.ville-test.fr 127.0.0.1`. */
export async function launchChromium(resolverRules: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--host-resolver-rules=${resolverRules}, EXCLUDE localhost`],
  });
}
