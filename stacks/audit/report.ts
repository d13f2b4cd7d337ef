// The auditor's report in three forms from one document: audit.json (machine-readable, validated
// by audit.schema.json, which ships beside it), audit.md and audit.html (self-contained: no asset
// from anywhere, printable; French first, English where an auditor from elsewhere needs it).
import { readFileSync } from 'node:fs';
import { AUDIT_CHECKS, CITIZEN_FINDINGS, LETTERS_CHECKS, LIVE_CHECKS, type CheckResult, type CitizenFinding } from './checks.js';
import type { AuditedCommune } from './model.js';

const AUDIT_SCHEMA_ID = 'https://socle.invalid/audit.schema.json';
export const AUDIT_SCHEMA_FILE = new URL('./audit.schema.json', import.meta.url);

export interface AuditDocument {
  readonly $schema: string;
  readonly format: 'socle-audit/1';
  readonly generatedAt: string;
  readonly socleVersion: string;
  readonly parts: ReadonlyArray<'static' | 'live'>;
  readonly summary: { readonly checks: number; readonly passed: number; readonly failed: number };
  readonly checks: readonly CheckResult[];
  readonly communes: readonly AuditedCommune[];
}

export function auditDocument(communes: readonly AuditedCommune[], checks: readonly CheckResult[], generatedAt = new Date()): AuditDocument {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const failed = checks.filter((c) => c.status === 'fail').length;
  return {
    $schema: AUDIT_SCHEMA_ID, format: 'socle-audit/1', generatedAt: generatedAt.toISOString(), socleVersion: pkg.version,
    parts: communes.some((c) => c.live) ? ['static', 'live'] : ['static'], summary: { checks: checks.length, passed: checks.length - failed, failed }, checks, communes,
  };
}

const esc = (s: string | number) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Hosts grouped by site on the left, with their stores; every outbound destination on the right. */
export function auditPicture(c: AuditedCommune): string {
  const width = 960, hostW = 430, lineH = 16, pad = 10;
  const destinations = [...new Map(c.flows.map((f) => [f.to, f])).values()];
  let y = 40;
  const hostBoxes = c.hosts.map((h) => {
    const stores = c.stores.filter((s) => s.kind === 'volume' && s.host === h.name && (s.personal || s.category === 'secret'));
    const height = 44 + stores.length * lineH + pad;
    const box = { h, stores, y, height };
    y += height + 20;
    return box;
  });
  const repos = c.stores.filter((s) => s.kind === 'backup-repository');
  const destY = new Map<string, number>();
  let dy = 40;
  for (const d of destinations) { destY.set(d.to, dy); dy += 58; }
  const repoY = Math.max(y, dy);
  const total = repoY + repos.length * 58 + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${total}" width="100%" role="img" aria-label="Machines, lieux, données et flux de ${esc(c.name)}" font-family="sans-serif" font-size="12">`,
    `<defs><marker id="arrow-${esc(c.slug)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="#444"/></marker></defs>`,
    `<text x="10" y="22" font-weight="bold" font-size="14">${esc(c.legalEntity)} — machines et données</text>`,
    `<text x="${width - 10}" y="22" text-anchor="end" font-weight="bold" font-size="14">Flux sortants</text>`,
  ];
  for (const b of hostBoxes) {
    parts.push(`<rect x="10" y="${b.y}" width="${hostW}" height="${b.height}" rx="6" fill="#eef2ff" stroke="#000091"/>`);
    parts.push(`<text x="${10 + pad}" y="${b.y + 18}" font-weight="bold">${esc(b.h.name)} (${esc(b.h.address)})</text>`);
    parts.push(`<text x="${10 + pad}" y="${b.y + 34}" fill="#333">${esc(b.h.site)} — ${esc(b.h.owner)}</text>`);
    b.stores.forEach((s, i) => parts.push(`<text x="${10 + 2 * pad}" y="${b.y + 52 + i * lineH}" fill="${s.personal ? (s.enforcedBy ? '#1b5e20' : '#b00020') : '#555'}">${s.personal ? '●' : '○'} ${esc(s.id)}${s.personal && !s.enforcedBy ? ' — conservation non appliquée' : ''}</text>`));
  }
  const destX = width - 360;
  for (const d of destinations) {
    const ty = destY.get(d.to)!;
    const fill = d.ownedByCity ? '#e8f5e9' : d.to === 'any' ? '#fff8e1' : '#ffebee';
    parts.push(`<rect x="${destX}" y="${ty}" width="350" height="44" rx="6" fill="${fill}" stroke="#444"/>`);
    parts.push(`<text x="${destX + pad}" y="${ty + 18}" font-weight="bold">${esc(d.to === 'any' ? 'réseau Tor' : d.to)}${d.port ? `:${d.port}` : ''}</text>`);
    parts.push(`<text x="${destX + pad}" y="${ty + 34}">${esc(d.owner)}</text>`);
  }
  for (const f of c.flows) {
    const b = hostBoxes.find((x) => x.h.name === f.from);
    if (!b) continue;
    parts.push(`<line x1="${10 + hostW}" y1="${b.y + b.height / 2}" x2="${destX}" y2="${destY.get(f.to)! + 22}" stroke="${f.ownedByCity || f.to === 'any' ? '#444' : '#b00020'}" marker-end="url(#arrow-${esc(c.slug)})"/>`);
  }
  repos.forEach((r, i) => {
    const ry = repoY + i * 58;
    parts.push(`<rect x="10" y="${ry}" width="${hostW}" height="44" rx="6" fill="${r.owner === c.legalEntity && r.site ? '#e8f5e9' : '#ffebee'}" stroke="#444"/>`);
    parts.push(`<text x="${10 + pad}" y="${ry + 18}" font-weight="bold">Sauvegardes ${esc(r.id)} : ${esc(r.host)}</text>`);
    parts.push(`<text x="${10 + pad}" y="${ry + 34}">${esc(r.site ?? 'lieu non déclaré')} — ${esc(r.owner)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** What a report says of a finding no check of this run answered: which part would, if any. */
function notRunFr(id: CitizenFinding): string {
  if (LIVE_CHECKS.some((c) => c.answers.includes(id))) return 'contrôlé par la partie en ligne (--live), non lancée ici';
  if (LETTERS_CHECKS.some((c) => c.answers.includes(id))) return 'contrôlé sur un tirage des courriers (--letters), non lancé ici';
  return AUDIT_CHECKS.some((c) => c.answers.includes(id)) ? '' : 'pas encore de contrôle automatique (not checked by Socle yet)';
}

function statusFr(s: CheckResult['status']): string {
  return s === 'pass' ? 'conforme' : 'NON CONFORME';
}

export function auditMarkdown(doc: AuditDocument): string {
  const out: string[] = [
    '# Rapport d’audit Socle / Socle audit report', '',
    `Généré le ${doc.generatedAt} par Socle ${doc.socleVersion} (parties : ${doc.parts.join(', ')}).`, '',
    `**${doc.summary.failed === 0 ? 'Tous les contrôles sont conformes' : `${doc.summary.failed} contrôle(s) non conforme(s)`}** sur ${doc.summary.checks}.`, '',
  ];
  for (const c of doc.communes) {
    out.push(`## ${c.legalEntity} (${c.file})`, '', '### Contrôles / Checks', '', '| Id | Constat de l’audit citoyen | Ce que le contrôle prouve | Statut | Preuves | Correction |', '|---|---|---|---|---|---|');
    for (const r of doc.checks.filter((x) => x.commune === c.slug)) {
      out.push(`| ${r.id} | ${r.answers.join(', ')} | ${mdCell(r.statement)} | ${statusFr(r.status)} | ${mdCell(r.evidence.join(' ; '))} | ${r.status === 'fail' ? mdCell(r.fix) : ''} |`);
    }
    out.push('', '### Données personnelles / Personal data stores', '', '| Stockage | Service | Machine | Lieu | Propriétaire | Catégorie | Conservation | Appliquée par | Sauvegardé vers |', '|---|---|---|---|---|---|---|---|---|');
    for (const s of c.stores) out.push(`| ${s.id} | ${s.service} | ${s.host} | ${mdCell(s.site ?? 'non déclaré')} | ${mdCell(s.owner)} | ${s.category} | ${mdCell(s.retention)} | ${mdCell(s.enforcedBy ?? (s.personal ? '**rien**' : '—'))} | ${s.backedUpTo.join(', ')} |`);
    out.push('', '### Flux sortants / Outbound flows', '', '| De | Réseau | Vers | Port | Propriétaire | Raison |', '|---|---|---|---|---|---|');
    for (const f of c.flows) out.push(`| ${f.from} | ${f.network ?? 'moteur Docker'} | ${f.to === 'any' ? 'réseau Tor' : f.to} | ${f.port ?? 'tous'} | ${mdCell(f.owner)} | ${mdCell(f.reason)} |`);
    out.push('', '### Matrice de sortie par conteneur / Egress matrix', '', '| Conteneur | Machine | Réseaux | Sortie possible |', '|---|---|---|---|');
    for (const k of c.containers) out.push(`| ${k.name} | ${k.host} | ${k.networks.map((n) => `${n.name}${n.internal ? ' (interne)' : ''}`).join(', ') || 'aucun'} | ${mdCell(k.routesOut.join(', ') || 'aucune')} |`);
    out.push('');
  }
  out.push('## Constats de l’audit citoyen / Citizen audit findings', '');
  for (const [id, text] of Object.entries(CITIZEN_FINDINGS)) out.push(`- **${id}** ${text} — contrôles : ${[...new Set(doc.checks.filter((c) => c.answers.includes(id as keyof typeof CITIZEN_FINDINGS)).map((c) => c.id))].join(', ') || `**${notRunFr(id as CitizenFinding)}**`}`);
  return `${out.join('\n')}\n`;
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:70rem;margin:1.5rem auto;padding:0 1rem;color:#1e1e1e;line-height:1.45}
h1,h2,h3{color:#000091}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.9rem}td,th{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f5}.pass{color:#1b5e20;font-weight:bold}.fail{color:#b00020;font-weight:bold}.en{color:#555;font-style:italic}
.verdict{padding:.6rem 1rem;border-radius:6px;font-weight:bold}.verdict.ok{background:#e8f5e9}.verdict.ko{background:#ffebee}
.notice{border:1px solid #bbb;padding:0 1rem;margin:1rem 0}ul.evidence{margin:0;padding-left:1.1rem}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{page-break-before:always}table{page-break-inside:auto}tr{page-break-inside:avoid}}`;

/** The body of a generated HTML page (the legal notice), for the report: its own styles dropped. */
function bodyOf(html: string): string {
  return (/<body>([\s\S]*)<\/body>/.exec(html)?.[1] ?? html)
    // Its opt-out script runs on the city's site, not in a filed report.
    .replace(/<script[\s\S]*?<\/script>/g, '<p><em>[le bouton d’opposition du site, sans effet dans ce rapport]</em></p>')
    .replace(/<h1>/g, '<h4>').replace(/<\/h1>/g, '</h4>').replace(/<h2>/g, '<h5>').replace(/<\/h2>/g, '</h5>');
}

/** What the deployed city answered, and the cookies notice taken from the crawl. */
function liveHtml(c: AuditedCommune): string {
  const l = c.live!;
  const cookies = l.pages.flatMap((p) => p.cookies.map((k) => ({ site: new URL(p.url).host, ...k })));
  const uniqueCookies = [...new Map(cookies.map((k) => [`${k.site} ${k.name}`, k])).values()];
  return [
    `<h3>Observations en ligne <span class="en">/ Live observations</span> (résolveur ${esc(l.resolver)})</h3>`,
    '<table><thead><tr><th>Nom</th><th>CNAME</th><th>Adresses</th><th>Erreur</th></tr></thead><tbody>',
    ...l.dns.map((d) => `<tr><td>${esc(d.name)}</td><td>${esc(d.cnames.join(' → ') || '—')}</td><td>${esc(d.addresses.join(', '))}</td><td>${esc(d.error ?? '')}</td></tr>`),
    ...l.zones.map((z) => `<tr><td>zone ${esc(z.zone)}</td><td colspan="2">NS : ${esc(z.nameServers.join(', ') || '—')}</td><td>${esc(z.error ?? '')}</td></tr>`),
    '</tbody></table>',
    '<table><thead><tr><th>Nom</th><th>TLS</th><th>TLS 1.1</th><th>HSTS</th><th>Referrer-Policy</th><th>security.txt</th><th>Remarque</th></tr></thead><tbody>',
    ...l.https.map((h) => `<tr><td>${esc(h.name)}</td><td>${esc(`${h.tlsVersion ?? ''} ${h.cipher ?? ''}`)}</td><td>${esc(h.oldTls ?? '')}</td><td>${esc(h.headers?.['strict-transport-security'] ?? '')}</td><td>${esc(h.headers?.['referrer-policy'] ?? '')}</td><td>${esc(h.securityTxt?.status ?? '')}</td><td>${esc(h.skipped ?? h.error ?? '')}</td></tr>`),
    '</tbody></table>',
    '<table><thead><tr><th>Page</th><th>Statut</th><th>Requêtes</th><th>Chargements bloqués</th><th>Cookies avant tout clic</th></tr></thead><tbody>',
    ...[...l.pages, ...(l.onion?.pages ?? [])].map((p) => `<tr><td><code>${esc(p.url)}</code></td><td>${esc(p.status ?? p.error ?? '')}</td><td>${esc(p.requests.length)}</td><td>${esc(p.blocked.join(', ') || '—')}</td><td>${esc(p.cookies.map((k) => k.name).join(', ') || 'aucun')}</td></tr>`),
    '</tbody></table>',
    l.mail ? `<p>Relais de courrier (${esc(l.mail.command)}) : ${esc(l.mail.hosts.map((h) => `${h.host} ${h.ok ? 'conforme' : `échec (${h.failure?.step})`}, ${h.route}`).join(' ; ') || l.mail.error || '')}.</p>` : '<p>Relais de courrier non vérifié (sans --mail).</p>',
    l.onion ? `<p>Sites onion parcourus via ${esc(l.onion.via)} : ${esc(l.onion.sites.map((s) => `${s.name} → ${s.origin ?? 'aucune adresse annoncée'}`).join(' ; '))}.</p>` : '<p>Sites onion non parcourus (ni --tor ni --onion-at).</p>',
    '<h3>Cookies et traceurs observés <span class="en">/ Cookies and trackers, as observed</span></h3>',
    '<p>Relevés par le parcours des pages dans Chromium, avant tout clic : ce que chaque site dépose réellement, pas une liste écrite à la main.</p>',
    uniqueCookies.length
      ? `<table><thead><tr><th>Site</th><th>Cookie</th><th>Domaine</th><th>Durée</th></tr></thead><tbody>${uniqueCookies.map((k) => `<tr><td>${esc(k.site)}</td><td><code>${esc(k.name)}</code></td><td>${esc(k.domain)}</td><td>${esc(k.session ? 'session (supprimé à la fermeture du navigateur)' : `jusqu’au ${k.expires}`)}</td></tr>`).join('')}</tbody></table>`
      : '<p>Aucun cookie ni traceur n’est déposé au chargement des pages.</p>',
  ].join('\n');
}

export function auditHtml(doc: AuditDocument): string {
  const ok = doc.summary.failed === 0;
  const out: string[] = [
    '<!doctype html>', '<html lang="fr">', '<head>', '<meta charset="utf-8">',
    // No asset from anywhere: the report is read offline, printed and filed.
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Rapport d’audit Socle — ${esc(doc.communes.map((c) => c.name).join(', '))}</title>`, `<style>${STYLE}</style>`, '</head>', '<body>',
    '<h1>Rapport d’audit <span class="en">/ Audit report</span></h1>',
    `<p>Généré le ${esc(doc.generatedAt)} par Socle ${esc(doc.socleVersion)} — parties : ${esc(doc.parts.join(', '))}. Ce rapport est produit à partir du fichier de la commune et des piles synthétisées (ce que Terraform appliquera).</p>`,
    `<p class="verdict ${ok ? 'ok' : 'ko'}">${ok ? 'Tous les contrôles sont conformes' : `${doc.summary.failed} contrôle(s) non conforme(s)`} sur ${doc.summary.checks}. <span class="en">${ok ? 'Every check passes.' : `${doc.summary.failed} check(s) fail.`}</span></p>`,
  ];
  for (const c of doc.communes) {
    out.push(`<h2>${esc(c.legalEntity)}</h2>`, `<p>${esc(c.address)} — ${esc(c.phone)} — <a href="mailto:${esc(c.email)}">${esc(c.email)}</a>. Fichier : <code>${esc(c.file)}</code>. Délégué à la protection des données : ${esc(c.dpo.name)} (${esc(c.dpo.email)}).</p>`);
    out.push('<h3>Contrôles <span class="en">/ Checks</span></h3>', '<table><thead><tr><th>Id</th><th>Constat</th><th>Ce que le contrôle prouve</th><th>Statut</th><th>Preuves</th><th>Correction</th></tr></thead><tbody>');
    for (const r of doc.checks.filter((x) => x.commune === c.slug)) {
      out.push(`<tr id="${esc(`${c.slug}-${r.id}`)}"><td><code>${esc(r.id)}</code></td><td>${esc(r.answers.join(', '))}</td><td>${esc(r.statement)}<br><span class="en">${esc(r.statementEn)}</span></td><td class="${r.status}">${statusFr(r.status)}</td><td><ul class="evidence">${r.evidence.map((e) => `<li>${esc(e)}</li>`).join('')}</ul></td><td>${r.status === 'fail' ? esc(r.fix) : ''}</td></tr>`);
    }
    out.push('</tbody></table>', '<h3>Machines, lieux, données et flux <span class="en">/ Hosts, sites, stores and flows</span></h3>', auditPicture(c));
    out.push('<h3>Inventaire des données <span class="en">/ Data stores</span></h3>', '<table><thead><tr><th>Stockage</th><th>Service</th><th>Machine</th><th>Lieu</th><th>Propriétaire</th><th>Catégorie</th><th>Conservation</th><th>Appliquée par</th><th>Sauvegardé vers</th></tr></thead><tbody>');
    for (const s of c.stores) out.push(`<tr><td><code>${esc(s.id)}</code></td><td>${esc(s.service)}</td><td>${esc(s.host)}</td><td>${esc(s.site ?? 'non déclaré')}</td><td>${esc(s.owner)}</td><td>${esc(s.personal ? 'données personnelles' : s.category)}</td><td>${esc(s.retention)}</td><td class="${s.personal && !s.enforcedBy ? 'fail' : ''}">${esc(s.enforcedBy ?? (s.personal ? 'rien' : '—'))}</td><td>${esc(s.backedUpTo.join(', '))}</td></tr>`);
    out.push('</tbody></table>', '<h3>Flux sortants <span class="en">/ Outbound flows</span></h3>', '<table><thead><tr><th>De</th><th>Réseau</th><th>Vers</th><th>Port</th><th>Propriétaire</th><th>Raison</th></tr></thead><tbody>');
    for (const f of c.flows) out.push(`<tr><td>${esc(f.from)}</td><td>${esc(f.network ?? 'moteur Docker')}</td><td>${esc(f.to === 'any' ? 'réseau Tor' : f.to)}</td><td>${esc(f.port ?? 'tous')}</td><td class="${f.ownedByCity || f.to === 'any' ? '' : 'fail'}">${esc(f.owner)}</td><td>${esc(f.reason)}</td></tr>`);
    out.push('</tbody></table>', '<h3>Matrice de sortie par conteneur <span class="en">/ Egress matrix</span></h3>', '<table><thead><tr><th>Conteneur</th><th>Machine</th><th>Réseaux</th><th>Sortie possible</th></tr></thead><tbody>');
    for (const k of c.containers) out.push(`<tr><td><code>${esc(k.name)}</code></td><td>${esc(k.host)}</td><td>${esc(k.networks.map((n) => `${n.name}${n.internal ? ' (interne)' : ''}`).join(', ') || 'aucun')}</td><td>${esc(k.routesOut.join(', ') || 'aucune')}</td></tr>`);
    out.push('</tbody></table>', '<h3>Règles et exceptions <span class="en">/ Policy results and suppressions</span></h3>');
    const notable = c.policy;
    out.push(notable.length ? `<table><thead><tr><th>Règle</th><th>Ressource</th><th>Statut</th><th>Raison</th></tr></thead><tbody>${notable.map((p) => `<tr><td>${esc(p.ruleId)}</td><td><code>${esc(p.path)}</code></td><td>${esc(p.status)}</td><td>${esc(p.reason ?? '')}</td></tr>`).join('')}</tbody></table>` : '<p>Toutes les règles sont respectées ; aucune exception.</p>');
    if (c.live) out.push(liveHtml(c));
    for (const n of c.registers) out.push(`<h3>Registre des activités de traitement servi (${esc(n.stack)}) <span class="en">/ Art. 30 register as served</span></h3>`, `<div class="notice">${bodyOf(n.html)}</div>`);
    for (const n of c.cookieNotices) out.push(`<h3>Cookies et traceurs, page servie (${esc(n.stack)}) <span class="en">/ Cookies notice as served</span></h3>`, `<div class="notice">${bodyOf(n.html)}</div>`);
    for (const n of c.legalNotices) out.push(`<h3>Mentions légales servies (${esc(n.stack)}) <span class="en">/ Legal notice as served</span></h3>`, `<div class="notice">${bodyOf(n.html)}</div>`);
  }
  out.push('<h2>Constats de l’audit citoyen <span class="en">/ Citizen audit findings</span></h2>', '<ul>');
  for (const [id, text] of Object.entries(CITIZEN_FINDINGS)) {
    const ids = [...new Set(doc.checks.filter((c) => c.answers.includes(id as keyof typeof CITIZEN_FINDINGS)).map((c) => c.id))];
    out.push(`<li><strong>${id}</strong> ${esc(text)} — ${ids.length ? `contrôles : ${ids.map((i) => `<code>${esc(i)}</code>`).join(', ')}` : `<strong>${esc(notRunFr(id as CitizenFinding))}</strong>`}</li>`);
  }
  out.push('</ul>', '</body>', '</html>');
  return `${out.join('\n')}\n`;
}
