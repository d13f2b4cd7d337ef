import { describe, expect, it } from 'vitest';
import { audienceReportCsv, audienceReportText, compareAudience, type AudienceData } from './audience.js';

// Ten page views served on the 1st, eight seen by the tracker: factor 1.25, a fifth untracked.
const DATA: AudienceData = {
  pages: [
    { site: 1, day: '2026-12-01', page: 'participer.ville.fr/', pageviews: '6', visits: '5' },
    { site: 2, day: '2026-12-01', page: 'participer.ville.fr/', pageviews: '7', visits: '6' },
    { site: 1, day: '2026-12-01', page: 'https://participer.ville.fr/projets?token=X', pageviews: 2, visits: 2 },
    { site: 2, day: '2026-12-01', page: 'participer.ville.fr/projets', pageviews: 3, visits: 3 },
    { site: 2, day: '2026-12-02', page: 'participer.ville.fr/mentions', pageviews: 1, visits: 1 },
  ],
  visits: [
    { site: 1, day: '2026-12-01', visits: '5' },
    { site: 2, day: '2026-12-01', visits: '7' },
    { site: 2, day: '2026-12-02', visits: '1' },
  ],
};

describe('the tracker and the logs compared', () => {
  const c = compareAudience(DATA, '2026-12-01', '2026-12-02');

  it('scales the tracker by the ratio of page views over the period (the audit\'s proportional rule)', () => {
    expect(c.factor).toBeCloseTo(11 / 8);
    expect(c.untrackedShare).toBeCloseTo(1 - 8 / 11);
    expect(c.pages).toEqual([
      { day: '2026-12-01', page: 'participer.ville.fr/', tracker: 6, logs: 7, corrected: 8 },
      { day: '2026-12-01', page: 'participer.ville.fr/projets', tracker: 2, logs: 3, corrected: 3 },
      { day: '2026-12-02', page: 'participer.ville.fr/mentions', tracker: 0, logs: 1, corrected: 0 },
    ]);
    expect(c.visits).toEqual([
      { day: '2026-12-01', page: '*', tracker: 5, logs: 7, corrected: 7 },
      { day: '2026-12-02', page: '*', tracker: 0, logs: 1, corrected: 0 },
    ]);
  });

  it('gives no factor when the tracker counted nothing', () => {
    const none = compareAudience({ pages: DATA.pages.filter((p) => Number(p.site) === 2), visits: [] }, '2026-12-01', '2026-12-02');
    expect(none.factor).toBeUndefined();
    expect(none.pages.every((r) => r.corrected === undefined)).toBe(true);
    expect(audienceReportText(none, 'Ville')).toContain('Le traceur n\'a compté aucune page vue sur la période : pas de facteur de correction.');
  });

  it('reports in French, and as CSV', () => {
    const text = audienceReportText(c, 'Ville-Exemple');
    expect(text).toMatch(/^Mesure d'audience de Ville-Exemple, du 2026-12-01 au 2026-12-02/);
    expect(text).toContain('Facteur de correction (pages vues journaux ÷ traceur) : 1,375 ; part non mesurée par le traceur : 27,3 %.');
    expect(text).toMatch(/2026-12-01 {2}participer\.ville\.fr\/projets {2,}2 {2,}3 {2,}3/);
    expect(audienceReportCsv(c).split('\n').slice(0, 2)).toEqual(['mesure,jour,page,traceur,journaux,corrige', 'pages_vues,2026-12-01,participer.ville.fr/,6,7,8']);
  });
});
