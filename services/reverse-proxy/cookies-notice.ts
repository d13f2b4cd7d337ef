// The cookies and trackers notice (« Cookies et traceurs »), in French, served by the proxy on
// every site at /cookies-et-traceurs and linked from the legal notice. Its rows are what each app
// says it sets (ProxyRoute.cookies) and the audience opt-out's cookie: the live audit crawls the
// pages and fails when the browser holds a cookie this notice does not list for that site.
import { escapeHtml, renderFile } from '../common/template.js';
import type { AudienceMeasurement } from '../matomo/index.js';
import type { LegalNotice, ProxyRoute } from './index.js';

/** Where the proxy serves it from, and the path citizens open. */
export const COOKIES_NOTICE_FILE = '/etc/socle/cookies-et-traceurs.html';
export const COOKIES_NOTICE_PATH = '/cookies-et-traceurs';

/** A cookie an app's pages set, as the notice tells citizens (French: the notice is theirs). */
export interface SiteCookie {
  readonly name: string;
  readonly purpose: string;
  /** How long it lives: `session` (gone when the browser closes) or a duration in words. */
  readonly lifetime: 'session' | string;
  /** When the page sets it (« à l’ouverture d’un questionnaire »). */
  readonly setWhen: string;
  /** Why no consent is asked: the CNIL exempts cookies strictly needed for the service the visitor asked for, and the record of a refusal. */
  readonly noConsentBecause: string;
}

/** One row of the notice: a cookie and the site that sets it. */
export interface NoticeRow extends SiteCookie {
  readonly hostname: string;
}

/** Every cookie of every site the proxy serves: the apps' own, and the opt-out on measured sites. */
export function noticeRows(routes: readonly ProxyRoute[], audience: AudienceMeasurement | undefined): NoticeRow[] {
  return routes.flatMap((r) => [
    ...(r.cookies ?? []),
    ...(audience && r.upstream !== audience.upstream ? [audience.optOutCookie] : []),
  ].map((c) => ({ hostname: r.hostname, ...c })));
}

/** The rows a rendered notice lists, read back (the audit, and the tests that compare a browser's cookies with it). */
export function listedCookies(html: string): Array<{ readonly hostname: string; readonly name: string }> {
  const unescape = (v: string) => v.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  return [...html.matchAll(/<tr data-cookie="([^"]+)" data-host="([^"]+)">/g)].map((m) => ({ name: unescape(m[1]), hostname: unescape(m[2]) }));
}

export function renderCookiesNotice(n: LegalNotice, rows: readonly NoticeRow[], audience: AudienceMeasurement | undefined): string {
  const e = escapeHtml;
  const table = rows.length === 0
    ? '<p>Aucun site de la commune ne dépose de cookie.</p>'
    : ['<table><thead><tr><th>Site</th><th>Cookie</th><th>À quoi il sert</th><th>Durée</th><th>Quand il est déposé</th><th>Pourquoi sans consentement</th></tr></thead><tbody>',
      ...rows.map((c) => `<tr data-cookie="${e(c.name)}" data-host="${e(c.hostname)}"><td>${e(c.hostname)}</td><td><code>${e(c.name)}</code></td><td>${e(c.purpose)}</td><td>${c.lifetime === 'session' ? 'session : effacé à la fermeture du navigateur' : e(c.lifetime)}</td><td>${e(c.setWhen)}</td><td>${e(c.noConsentBecause)}</td></tr>`),
      '</tbody></table>'].join('\n');
  return renderFile(import.meta.url, './templates/cookies-et-traceurs.html.tmpl', {
    communeName: e(n.communeName),
    legalEntity: e(n.legalEntity),
    table,
    audience: audience
      ? '<p>La mesure d’audience de la commune (Matomo, hébergé par la commune) ne dépose aucun cookie : elle est exemptée de consentement selon les conditions de la CNIL. Vous pouvez vous y opposer depuis les <a href="/mentions-legales">mentions légales</a> ; ce refus est alors retenu par le seul cookie indiqué ci-dessus pour chaque site.</p>'
      : '<p>Aucune mesure d’audience n’est réalisée sur ces sites.</p>',
  });
}
