/**
 * The citizen audit's two measurements side by side: the JavaScript tracker (site 1) counts the
 * visitors who let it run, the proxy's logs (site 2) count every page served to a person (bots
 * left out by Matomo's importer). Their ratio is the share of visitors who limit tracking, and the
 * audit's "règle de proportionnalité": the tracker's figures scaled by that ratio. Pure functions
 * over what `socle-matomo audience-data` prints; `npm run audience -- report` renders them.
 */

/** Matomo's sites in Socle's installation: one per measurement, the same URLs. */
export const TRACKER_SITE_ID = 1;
export const LOGS_SITE_ID = 2;

/** What `socle-matomo audience-data FROM TO` prints (services/matomo/lib/socle-matomo.php). */
export interface AudienceData {
  readonly pages: ReadonlyArray<{ site: number | string; day: string; page: string; pageviews: number | string; visits: number | string }>;
  readonly visits: ReadonlyArray<{ site: number | string; day: string; visits: number | string }>;
}

export interface AudienceRow {
  readonly day: string;
  /** The page's address without query string (as both measurements store it); `*` for the day's total. */
  readonly page: string;
  readonly tracker: number;
  readonly logs: number;
  /** The tracker's figure scaled by the period's ratio; undefined when the tracker saw nothing at all. */
  readonly corrected?: number;
}

export interface AudienceComparison {
  readonly from: string;
  readonly to: string;
  /** Page views per day and page. */
  readonly pages: readonly AudienceRow[];
  /** Visits per day (page `*`). */
  readonly visits: readonly AudienceRow[];
  /** Logs ÷ tracker over the whole period, page views; undefined when the tracker counted none. */
  readonly factor?: number;
  /** 1 − tracker ÷ logs: the share of page views the tracker missed (blocked, no JavaScript, Do Not Track). */
  readonly untrackedShare?: number;
}

/** A page as both sites store it: Matomo keeps the URL without scheme (`host/path`). */
function pageKey(page: string): string {
  return page.replace(/^https?:\/\//, '').replace(/[?#].*$/, '');
}

export function compareAudience(data: AudienceData, from: string, to: string): AudienceComparison {
  const pageRows = new Map<string, { day: string; page: string; tracker: number; logs: number }>();
  for (const r of data.pages) {
    const page = pageKey(r.page);
    const key = `${r.day}\u0000${page}`;
    const row = pageRows.get(key) ?? { day: r.day, page, tracker: 0, logs: 0 };
    if (Number(r.site) === TRACKER_SITE_ID) row.tracker += Number(r.pageviews);
    else if (Number(r.site) === LOGS_SITE_ID) row.logs += Number(r.pageviews);
    pageRows.set(key, row);
  }
  const visitRows = new Map<string, { day: string; page: string; tracker: number; logs: number }>();
  for (const r of data.visits) {
    const row = visitRows.get(r.day) ?? { day: r.day, page: '*', tracker: 0, logs: 0 };
    if (Number(r.site) === TRACKER_SITE_ID) row.tracker += Number(r.visits);
    else if (Number(r.site) === LOGS_SITE_ID) row.logs += Number(r.visits);
    visitRows.set(r.day, row);
  }
  const pages = [...pageRows.values()];
  const tracked = pages.reduce((n, r) => n + r.tracker, 0);
  const logged = pages.reduce((n, r) => n + r.logs, 0);
  const factor = tracked > 0 ? logged / tracked : undefined;
  const correct = (r: { day: string; page: string; tracker: number; logs: number }): AudienceRow =>
    ({ ...r, corrected: factor === undefined ? undefined : Math.round(r.tracker * factor) });
  const order = (a: AudienceRow, b: AudienceRow) => a.day.localeCompare(b.day) || b.logs - a.logs || a.page.localeCompare(b.page);
  return {
    from, to,
    pages: pages.map(correct).sort(order),
    visits: [...visitRows.values()].map(correct).sort(order),
    factor,
    untrackedShare: factor === undefined || logged === 0 ? undefined : 1 - tracked / logged,
  };
}

const percent = (x: number) => `${(x * 100).toFixed(1).replace('.', ',')} %`;
const figure = (x?: number) => (x === undefined ? '—' : String(x));

/** The report in French, for the commune's communication and its auditors. */
export function audienceReportText(c: AudienceComparison, commune: string): string {
  const lines = [
    `Mesure d'audience de ${commune}, du ${c.from} au ${c.to}`,
    '',
    'Deux mesures du même trafic : le traceur JavaScript de Matomo (les visiteurs qui le laissent fonctionner)',
    'et les journaux du serveur importés dans Matomo (toutes les pages servies, robots exclus).',
    c.factor === undefined
      ? 'Le traceur n\'a compté aucune page vue sur la période : pas de facteur de correction.'
      : `Facteur de correction (pages vues journaux ÷ traceur) : ${c.factor.toFixed(3).replace('.', ',')} ; part non mesurée par le traceur : ${percent(c.untrackedShare ?? 0)}.`,
    'Chiffre corrigé = chiffre du traceur × facteur (règle de proportionnalité de l\'audit citoyen).',
    '',
    'Visites par jour',
    table(['jour', 'traceur', 'journaux', 'corrigé'], c.visits.map((r) => [r.day, String(r.tracker), String(r.logs), figure(r.corrected)])),
    '',
    'Pages vues par jour et par page',
    table(['jour', 'page', 'traceur', 'journaux', 'corrigé'], c.pages.map((r) => [r.day, r.page, String(r.tracker), String(r.logs), figure(r.corrected)])),
  ];
  return `${lines.join('\n')}\n`;
}

/** The same figures as CSV (one line per day and page, then per day for visits). */
export function audienceReportCsv(c: AudienceComparison): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rows = [
    ...c.pages.map((r) => ['pages_vues', r.day, r.page, r.tracker, r.logs, r.corrected ?? '']),
    ...c.visits.map((r) => ['visites', r.day, r.page, r.tracker, r.logs, r.corrected ?? '']),
  ];
  return `${['mesure,jour,page,traceur,journaux,corrige', ...rows.map((r) => r.map((v) => quote(String(v))).join(','))].join('\n')}\n`;
}

function table(head: readonly string[], rows: readonly string[][]): string {
  if (rows.length === 0) return '  (rien sur la période)';
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => `  ${cells.map((c, i) => (i === 0 || i === 1 && head.length === 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
