// The Art. 30 register of processing activities (registre des activités de traitement), in French,
// served by the proxy at /registre-des-traitements beside the legal notice. The activities are
// what the services declare (Platform.declareProcessing); where each one's data is kept, how long
// and what deletes it are the volumes' own labels, so the register cannot drift from the stacks.
import type { ProcessingActivity } from '../common/platform.js';
import { escapeHtml, renderFile } from '../common/template.js';
import type { LegalNotice } from './index.js';

/** Where the proxy serves it from, and the path citizens open. */
export const REGISTER_FILE = '/etc/socle/registre-des-traitements.html';
export const REGISTER_PATH = '/registre-des-traitements';

export interface RegisterStore {
  readonly volume: string;
  readonly host: string;
  readonly site: string;
  readonly retention: string;
  /** What deletes the data once the retention is over; undefined when nothing does. */
  readonly enforcedBy?: string;
  readonly backedUp: boolean;
}

export interface ProcessingRegister {
  readonly entries: ReadonlyArray<{ readonly activity: ProcessingActivity; readonly stores: readonly RegisterStore[] }>;
  /** Backup repositories: name, host and site ("lieu non déclaré" when the city file gives none). */
  readonly backups: ReadonlyArray<{ readonly name: string; readonly host: string; readonly site?: string }>;
  /** Parties the city file declares it depends on: none, for a commune that owns its whole chain. */
  readonly externalParties: ReadonlyArray<{ readonly name: string; readonly role: string; readonly reason: string }>;
}

/** What protects every processing: the register lists them once. */
const COMMON_MEASURES = [
  'services hébergés sur les machines de la commune, sans prestataire intermédiaire',
  'chiffrement TLS de tous les échanges avec les usagers ; accès aussi possible par Tor (service onion) lorsqu’il est activé',
  'cloisonnement : chaque application et sa base sur un réseau interne sans accès extérieur ; seuls la passerelle de courrier, les sauvegardes et Tor sortent, vers des destinations déclarées',
  'images logicielles construites par la commune à partir de Debian ou de versions officielles vérifiées par empreinte',
  'secrets (mots de passe, clés) générés au déploiement, jamais écrits dans la configuration',
];

const list = (items: readonly string[]) => `<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;

export function renderRegister(n: LegalNotice, register: ProcessingRegister): string {
  const e = escapeHtml;
  const transfers = register.externalParties.length === 0
    ? '<p>Aucun : aucune donnée n’est transmise hors de l’Union européenne, ni à un sous-traitant. Les données restent sur les machines de la commune et ses sauvegardes.</p>'
    : `<p>Le fichier de la commune déclare les prestataires suivants (leur localisation n’y figure pas : à vérifier pour chacun) :</p>${list(register.externalParties.map((p) => `${p.name} (${p.role}) : ${p.reason}`))}`;
  const entries = register.entries.map(({ activity: a, stores }, i) => [
    `<h2 id="traitement-${i + 1}">${i + 1}. ${e(a.name)}</h2>`,
    '<table>',
    `<tr><th>Finalités</th><td>${list(a.purposes)}</td></tr>`,
    `<tr><th>Base légale</th><td>${e(a.legalBasis)}</td></tr>`,
    `<tr><th>Personnes concernées</th><td>${list(a.people)}</td></tr>`,
    `<tr><th>Catégories de données</th><td>${list(a.data)}</td></tr>`,
    `<tr><th>Destinataires</th><td>${list(a.recipients)}</td></tr>`,
    `<tr><th>Transferts hors de l’Union européenne</th><td>${register.externalParties.length === 0 ? 'Aucun' : 'voir « Transferts hors de l’Union européenne et sous-traitants » ci-dessous'}</td></tr>`,
    `<tr><th>Mesures de sécurité propres</th><td>${list(a.measures)}</td></tr>`,
    '</table>',
    '<table class="stores"><thead><tr><th>Stockage</th><th>Machine</th><th>Lieu</th><th>Durée de conservation</th><th>Appliquée par</th><th>Sauvegardé</th></tr></thead><tbody>',
    ...stores.map((s) => `<tr data-volume="${e(s.volume)}"><td><code>${e(s.volume)}</code></td><td>${e(s.host)}</td><td>${e(s.site)}</td><td>${e(s.retention)}</td><td>${s.enforcedBy ? e(s.enforcedBy) : '<strong>rien : suppression à faire par la commune</strong>'}</td><td>${s.backedUp ? 'oui' : 'non'}</td></tr>`),
    '</tbody></table>',
  ].join('\n')).join('\n');
  return renderFile(import.meta.url, './templates/registre-des-traitements.html.tmpl', {
    communeName: e(n.communeName),
    legalEntity: e(n.legalEntity),
    address: e(`${n.address.street}, ${n.address.postcode} ${n.address.city}`),
    phone: e(n.phone),
    email: e(n.email),
    dpo: `${e(n.dpo.name)}, <a href="mailto:${e(n.dpo.email)}">${e(n.dpo.email)}</a>${n.dpo.postalAddress ? `, ${e(n.dpo.postalAddress)}` : ''}`,
    entries,
    transfers,
    commonMeasures: list(COMMON_MEASURES),
    backups: register.backups.length
      ? list(register.backups.map((b) => `${b.name} : ${b.host}, ${b.site ?? 'lieu non déclaré'}`))
      : '<p>Aucune sauvegarde n’est configurée.</p>',
  });
}
