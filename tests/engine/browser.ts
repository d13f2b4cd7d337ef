// The browser of the tests: the audit's Chromium, the names the test gives resolved where it says
// (loopback, a container), never by a resolver outside the machine.
import type { Browser } from 'playwright-core';
import { launchChromium as launch } from '../../stacks/audit/browser.js';

export { gotoSteadily } from '../../stacks/audit/browser.js';

/** `resolverRules`: Chromium's --host-resolver-rules, e.g. `MAP *.ville-test.fr 127.0.0.1`. */
export function launchChromium(resolverRules: string): Promise<Browser> {
  return launch(`${resolverRules}, EXCLUDE localhost`);
}
