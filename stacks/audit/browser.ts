// Debian's Chromium, headless, for the pages a person sees (the audit's crawl, and the tests): no
// background traffic of the browser's own, and names resolved only where the caller says.
import type { Browser, Page, Response } from 'playwright-core';

/** `resolverRules`: Chromium's --host-resolver-rules, e.g. `MAP *.ville-test.fr 127.0.0.1, MAP * ~NOTFOUND`; `proxy`, e.g. `socks5://127.0.0.1:9050`. */
export async function launchChromium(resolverRules: string, proxy?: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    ...(proxy ? { proxy: { server: proxy } } : {}),
    executablePath: process.env.SOCLE_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--host-resolver-rules=${resolverRules}`],
  });
}

/**
 * page.goto, again when Chromium aborted it with ERR_NETWORK_CHANGED: it drops requests in flight
 * whenever the machine's interfaces change, and a Docker host adds and removes bridges and veths
 * as containers come and go (a deploy beside the audit, a test beside another). Any other failure
 * is the page's own and is thrown at once.
 */
export async function gotoSteadily(page: Page, url: string, options: Parameters<Page['goto']>[1] = {}): Promise<Response | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await page.goto(url, options);
    } catch (e) {
      if (attempt >= 3 || !String(e).includes('net::ERR_NETWORK_CHANGED')) throw e;
    }
  }
}
