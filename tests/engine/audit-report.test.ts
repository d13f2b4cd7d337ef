// The auditor's report as an auditor sees it: audit.html opened in Debian's Chromium from the
// disk, every request recorded (none may go anywhere), printed to PDF, and a screenshot left for a
// human to look at. In the engine project because Chromium is installed by its global setup.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TSX, exampleCity, run, tempDir, writeCity } from '../helpers.js';
import { gotoSteadily, launchChromium } from './browser.js';

describe('the audit report in a browser (Debian\'s Chromium, headless)', () => {
  it('renders self-contained, in French, with its picture and every check, and prints', async () => {
    const out = join(tempDir('socle-audit-report-'), 'rapport');
    // The example city passes every check; with a LimeSurvey image of its own (which deletes no
    // answers Socle knows of) one fails, so that the report shows both verdicts.
    const city = exampleCity();
    city.services.limesurvey.image = 'limesurvey-ville-exemple';
    const r = run(TSX, ['scripts/audit.ts', '--config', writeCity(city), '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    const doc = JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8'));
    // No name resolves anywhere: a request to another host could not even be answered.
    const browser = await launchChromium('MAP * ~NOTFOUND');
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const requested: string[] = [];
      const consoleErrors: string[] = [];
      page.on('request', (req) => requested.push(req.url()));
      page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
      const url = pathToFileURL(join(out, 'audit.html')).href;
      await gotoSteadily(page, url);
      expect(requested).toEqual([url]);
      expect(consoleErrors).toEqual([]);
      expect(await page.getAttribute('html', 'lang')).toBe('fr');
      expect(await page.title()).toBe('Rapport d’audit Socle — Ville-Exemple');
      expect(await page.locator('.verdict').innerText()).toContain('1 contrôle(s) non conforme(s) sur 13');
      for (const c of doc.checks) {
        const row = page.locator(`tr[id="ville-exemple-${c.id}"]`);
        expect(await row.locator('td').nth(3).innerText(), c.id).toBe(c.status === 'pass' ? 'conforme' : 'NON CONFORME');
      }
      // The picture is drawn, at a readable size.
      const svg = await page.locator('svg').first().boundingBox();
      expect(svg!.width).toBeGreaterThan(800);
      expect(svg!.height).toBeGreaterThan(200);
      expect(await page.locator('svg text', { hasText: 'Hôtel de ville, salle serveurs (sous-sol)' }).count()).toBeGreaterThan(0);
      const shot = await page.screenshot({ path: join(out, 'audit.png'), fullPage: true });
      console.log(`screenshot: ${join(out, 'audit.png')}`);
      expect(shot.length).toBeGreaterThan(50_000);
      const pdf = await page.pdf({ format: 'A4', printBackground: true });
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(requested).toEqual([url]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
