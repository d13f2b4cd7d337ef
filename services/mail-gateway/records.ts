// What the city's mail team publishes so mail Socle sends through their Zimbra is delivered and
// trusted: the sending domain's DNS records (SPF, DKIM, DMARC, optionally MTA-STS and TLS-RPT) and
// the Zimbra administration commands (sending account, allowed sender, relay networks, DKIM key).
// Socle cannot do these itself: the DNS zone and the Zimbra belong to the city. It writes them, each
// line explained in French and English, under cdktf.out/mail/<slug>/ at synth.
import { createHash } from 'node:crypto';
import { sendingDomain } from '../../stacks/config/defaults.js';
import type { CityConfig, SecretRef } from '../../stacks/config/types.js';

type Bilingual = { readonly fr: string; readonly en: string };

export interface MailRecord { readonly name: string; readonly type: 'TXT' | 'CNAME' | 'MX' | 'A'; readonly value: string; readonly why: Bilingual }
export interface ZimbraCommand { readonly command: string; readonly why: Bilingual }
export interface MailRecords {
  /** The commune's slug: its files go under cdktf.out/mail/<slug>/ (communes may share a domain). */
  readonly commune: string;
  readonly domain: string;
  readonly records: readonly MailRecord[];
  readonly zimbra: readonly ZimbraCommand[];
  readonly notes: readonly { fr: string; en: string }[];
  /** The MTA-STS policy file, to serve at https://mta-sts.<domain>/.well-known/mta-sts.txt (mail.mtaSts). */
  readonly mtaStsPolicy?: string;
}

/** Stands for the DKIM public key until Zimbra prints it: never a made-up key. */
export const DKIM_KEY_PLACEHOLDER = 'À-REMPLACER-PAR-LA-CLÉ-IMPRIMÉE-PAR-zmdkimkeyutil/REPLACE-WITH-THE-KEY-zmdkimkeyutil-PRINTS';
/**
 * The shell variable standing for the relay password in the account-creation command: the real
 * one never leaves its reference. A variable, not a literal, so a script run as is stops (set -u)
 * instead of creating the account with a placeholder for password.
 */
function passwordVariable(ref: SecretRef): string {
  return 'env' in ref ? ref.env : 'SOCLE_RELAY_PASSWORD';
}

const ZMPROV = 'zmprov';
const ZMDKIMKEYUTIL = '/opt/zimbra/libexec/zmdkimkeyutil';

function describeRef(ref: SecretRef): Bilingual {
  return 'env' in ref
    ? { fr: `la valeur de la variable d'environnement ${ref.env} du poste de déploiement`, en: `the value of the deploying machine's ${ref.env} environment variable` }
    : { fr: `le contenu du fichier ${ref.file} du poste de déploiement`, en: `the content of ${ref.file} on the deploying machine` };
}

/** Shell-quotes one word (single quotes: nothing inside is expanded). */
function q(word: string): string {
  return /^[A-Za-z0-9@._/:=+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function mailRecords(city: CityConfig): MailRecords {
  const { mail } = city;
  const domain = sendingDomain(mail.from);
  const relay = mail.relay.host;
  const reports = mail.dmarc.reports;
  const publicAddresses = mail.sending.publicAddresses ?? [];
  const spfMechanisms = publicAddresses.length > 0 ? publicAddresses.map((a) => `ip4:${a}`) : [`a:${relay}`];
  const selector = mail.dkim.selector;

  const records: MailRecord[] = [
    {
      name: domain, type: 'TXT', value: `v=spf1 ${spfMechanisms.join(' ')} -all`,
      why: {
        fr: `SPF : seul le relais de la ville (${publicAddresses.length > 0 ? publicAddresses.join(', ') : relay}) envoie du courrier pour ${domain} ; tout autre expéditeur est refusé (-all). Un domaine n'a qu'un seul enregistrement SPF : si ${domain} en a déjà un, fusionnez-les.`,
        en: `SPF: only the city's relay (${publicAddresses.length > 0 ? publicAddresses.join(', ') : relay}) sends mail for ${domain}; any other sender fails (-all). A domain has one SPF record only: if ${domain} already has one, merge them.`,
      },
    },
    {
      name: `${selector}._domainkey.${domain}`, type: 'TXT', value: `v=DKIM1; k=rsa; p=${DKIM_KEY_PLACEHOLDER}`,
      why: {
        fr: `DKIM : la clé publique avec laquelle les destinataires vérifient la signature que Zimbra appose. Zimbra génère la clé : ${ZMDKIMKEYUTIL} -a -d ${domain} -s ${selector} imprime l'enregistrement TXT exact à publier ici.`,
        en: `DKIM: the public key receivers check Zimbra's signature with. Zimbra generates the key: ${ZMDKIMKEYUTIL} -a -d ${domain} -s ${selector} prints the exact TXT record to publish here.`,
      },
    },
    {
      name: `_dmarc.${domain}`, type: 'TXT', value: `v=DMARC1; p=${mail.dmarc.policy}; rua=mailto:${reports}; adkim=s; aspf=s`,
      why: {
        fr: `DMARC : un courrier se disant de ${domain} qui échoue à SPF et DKIM est ${({ none: 'seulement signalé', quarantine: 'mis en quarantaine (indésirables)', reject: 'refusé' })[mail.dmarc.policy]} ; alignement strict (adkim=s, aspf=s) ; les rapports agrégés vont à ${reports}.`,
        en: `DMARC: mail claiming to be from ${domain} that fails SPF and DKIM is ${({ none: 'only reported', quarantine: 'quarantined (spam folder)', reject: 'rejected' })[mail.dmarc.policy]}; strict alignment (adkim=s, aspf=s); aggregate reports go to ${reports}.`,
      },
    },
  ];
  const reportsDomain = sendingDomain(reports);
  if (reportsDomain !== domain && !reportsDomain.endsWith(`.${domain}`) && !domain.endsWith(`.${reportsDomain}`)) {
    // RFC 7489 §7.1: a report address in another domain must consent to receive them.
    records.push({
      name: `${domain}._report._dmarc.${reportsDomain}`, type: 'TXT', value: 'v=DMARC1',
      why: {
        fr: `DMARC : ${reportsDomain} accepte de recevoir les rapports de ${domain} (sans cet enregistrement, les destinataires n'envoient pas de rapports à ${reports}).`,
        en: `DMARC: ${reportsDomain} agrees to receive ${domain}'s reports (without this record, receivers send no reports to ${reports}).`,
      },
    });
  }
  let mtaStsPolicy: string | undefined;
  if (mail.mtaSts) {
    mtaStsPolicy = `version: STSv1\nmode: testing\nmx: ${relay}\nmax_age: 604800\n`;
    // The id must change whenever the policy does, so senders fetch it again: a hash of its text.
    const id = createHash('sha256').update(mtaStsPolicy).digest('hex').slice(0, 16);
    records.push({
      name: `_mta-sts.${domain}`, type: 'TXT', value: `v=STSv1; id=${id}`,
      why: {
        fr: `MTA-STS : les serveurs qui écrivent à ${domain} exigent TLS vers ${relay} ; la politique (mta-sts.txt) est servie sur https://mta-sts.${domain}/.well-known/mta-sts.txt, avec un certificat valide. Mode « testing » : passez à « enforce » (et changez l'id) quand les rapports TLS sont propres.`,
        en: `MTA-STS: servers writing to ${domain} require TLS to ${relay}; the policy (mta-sts.txt) is served at https://mta-sts.${domain}/.well-known/mta-sts.txt, with a valid certificate. Mode "testing": switch to "enforce" (and change the id) once TLS reports are clean.`,
      },
    });
  }
  if (mail.tlsRpt) {
    records.push({
      name: `_smtp._tls.${domain}`, type: 'TXT', value: `v=TLSRPTv1; rua=mailto:${reports}`,
      why: {
        fr: `TLS-RPT : les serveurs qui écrivent à ${domain} envoient à ${reports} un rapport quotidien des échecs de TLS.`,
        en: `TLS-RPT: servers writing to ${domain} send ${reports} a daily report of TLS failures.`,
      },
    });
  }

  const user = mail.relay.user;
  const password = describeRef(mail.relay.password);
  const passwordVar = passwordVariable(mail.relay.password);
  const socleNetworks = [...new Set(city.hosts.map((h) => `${h.privateAddress}/32`))];
  const zimbra: ZimbraCommand[] = [
    {
      command: `${ZMPROV} ca ${q(user)} "$${passwordVar}"`,
      why: {
        fr: `Crée le compte avec lequel les applications de Socle s'authentifient. Avant, exportez ${passwordVar} avec ${password.fr} (jamais écrit ici).`,
        en: `Creates the account Socle's apps authenticate as. First export ${passwordVar} holding ${password.en} (never written here).`,
      },
    },
    {
      command: `${ZMPROV} ma ${q(user)} zimbraAllowFromAddress ${q(mail.from)}`,
      why: {
        fr: `Autorise ce compte à envoyer avec l'adresse d'expéditeur ${mail.from}, et seulement celle-là.`,
        en: `Allows this account to send as ${mail.from}, and only as that address.`,
      },
    },
    {
      command: `${ZMPROV} mcf zimbraMtaMyNetworks ${q(['127.0.0.0/8', '[::1]/128', ...socleNetworks].join(' '))}`,
      why: {
        fr: `Réseaux de confiance du MTA : la boucle locale et les serveurs Socle (${socleNetworks.join(', ')}), d'où la passerelle de courrier se connecte. Remplace la liste entière : ajoutez-y les adresses de Zimbra lui-même et de vos autres émetteurs légitimes.`,
        en: `The MTA's trusted networks: loopback and the Socle hosts (${socleNetworks.join(', ')}), which the mail gateway connects from. This replaces the whole list: add Zimbra's own addresses and your other legitimate senders.`,
      },
    },
    {
      command: 'zmmtactl reload',
      why: { fr: 'Recharge Postfix pour appliquer les réseaux de confiance.', en: 'Reloads Postfix so the trusted networks apply.' },
    },
    {
      command: `${ZMDKIMKEYUTIL} -a -d ${q(domain)} -s ${q(selector)}`,
      why: {
        fr: `Génère la clé DKIM de ${domain} (sélecteur ${selector}) et imprime l'enregistrement TXT à publier à ${selector}._domainkey.${domain}.`,
        en: `Generates ${domain}'s DKIM key (selector ${selector}) and prints the TXT record to publish at ${selector}._domainkey.${domain}.`,
      },
    },
    {
      command: `${ZMPROV} gd ${q(domain)} zimbraDomainMandatoryMailSignatureEnabled`,
      why: {
        fr: `Vérification (doit afficher FALSE ou rien) : Zimbra ne doit rien ajouter ni réécrire dans le courrier de Socle (pied de page, liens).`,
        en: `Check (must print FALSE or nothing): Zimbra must add or rewrite nothing in Socle's mail (footer, links).`,
      },
    },
  ];

  const notes: Bilingual[] = [
    {
      fr: `Aucune réécriture de liens : ni Zimbra ni une passerelle de sécurité devant lui ne doivent réécrire les liens (suivi des clics, « URL defense ») du courrier envoyé par ${mail.from} : les liens d'invitation doivent arriver intacts, sans tiers.`,
      en: `No link rewriting: neither Zimbra nor a security gateway in front of it may rewrite links (click tracking, "URL defense") in mail sent by ${mail.from}: invitation links must arrive unchanged, with no third party.`,
    },
    {
      fr: `Vérifiez après publication : dig +short TXT ${domain} ; dig +short TXT _dmarc.${domain} ; dig +short TXT ${selector}._domainkey.${domain} ; puis ${ZMDKIMKEYUTIL} -q -d ${domain}.`,
      en: `Check once published: dig +short TXT ${domain}; dig +short TXT _dmarc.${domain}; dig +short TXT ${selector}._domainkey.${domain}; then ${ZMDKIMKEYUTIL} -q -d ${domain}.`,
    },
  ];
  if (publicAddresses.length === 0) {
    notes.push({
      fr: `SPF nomme ${relay} (a:) : ce nom doit résoudre publiquement vers l'adresse depuis laquelle Zimbra envoie sur Internet. Sinon, donnez ces adresses dans mail.sending.publicAddresses.`,
      en: `SPF names ${relay} (a:): that name must resolve publicly to the address Zimbra sends from on the Internet. Otherwise, give those addresses in mail.sending.publicAddresses.`,
    });
  }
  if (mtaStsPolicy !== undefined) {
    notes.push({
      fr: `MTA-STS : publiez mta-sts.txt à https://mta-sts.${domain}/.well-known/mta-sts.txt (un nom mta-sts.${domain} avec un certificat valide).`,
      en: `MTA-STS: serve mta-sts.txt at https://mta-sts.${domain}/.well-known/mta-sts.txt (a name mta-sts.${domain} with a valid certificate).`,
    });
  }
  return { commune: city.commune.slug, domain, records, zimbra, notes, ...(mtaStsPolicy !== undefined ? { mtaStsPolicy } : {}) };
}

/** A TXT value in BIND syntax: quoted, split in strings of at most 255 characters. */
function bindTxt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255).replace(/["\\]/g, '\\$&')}"`);
  return parts.join(' ');
}

function zoneFile(r: MailRecords): string {
  const lines = [
    `; Enregistrements DNS à publier pour ${r.domain} (écrits par Socle) / DNS records to publish for ${r.domain} (written by Socle)`,
    '; FR: à ajouter à la zone existante, pas à la remplacer. / EN: add them to the existing zone, do not replace it.',
    '',
  ];
  for (const rec of r.records) {
    lines.push(`; FR: ${rec.why.fr}`, `; EN: ${rec.why.en}`);
    const value = rec.type === 'TXT' ? bindTxt(rec.value) : rec.value;
    const line = `${rec.name}.\t3600\tIN\t${rec.type}\t${value}`;
    // A placeholder must never be published by accident: the line stays commented until it is replaced.
    if (rec.value.includes(DKIM_KEY_PLACEHOLDER)) {
      lines.push('; FR: à décommenter une fois la valeur remplacée par la sortie de zmdkimkeyutil. / EN: uncomment once the value is replaced by zmdkimkeyutil\'s output.');
      lines.push(`; ${line}`);
    } else {
      lines.push(line);
    }
    lines.push('');
  }
  return lines.join('\n');
}

function zimbraScript(r: MailRecords): string {
  const passwordVar = /"\$([A-Z_][A-Z0-9_]*)"/.exec(r.zimbra.map((c) => c.command).join('\n'))?.[1];
  const lines = [
    '#!/bin/sh',
    `# Commandes d'administration Zimbra pour Socle (${r.domain}), à lancer en tant qu'utilisateur zimbra (su - zimbra).`,
    `# Zimbra administration commands for Socle (${r.domain}), to run as the zimbra user (su - zimbra).`,
    "# FR: lisez chaque commande avant de la lancer ; exportez d'abord le mot de passe du compte / EN: read each command before running it; export the account password first.",
    'set -eu',
    ...(passwordVar ? [`: "\${${passwordVar}:?FR: exportez d'abord ${passwordVar} (mot de passe du compte) / EN: export ${passwordVar} first (the account password)}"`] : []),
    '',
  ];
  for (const c of r.zimbra) lines.push(`# FR: ${c.why.fr}`, `# EN: ${c.why.en}`, c.command, '');
  return lines.join('\n');
}

/** The README's words, by language; its layout is the same in both. */
const README_WORDS: Readonly<Record<'fr' | 'en', { title: (d: string) => string; intro: (files: string) => string; dns: string; zimbra: string; notes: string }>> = {
  fr: {
    title: (d) => `# Courrier de Socle : ce que l'équipe messagerie publie pour ${d}`,
    intro: (files) => `Socle envoie son courrier uniquement par le Zimbra de la ville. Pour qu'il soit délivré et reconnu, l'équipe messagerie publie ces enregistrements DNS et lance ces commandes Zimbra (fichiers : ${files}).`,
    dns: 'Enregistrements DNS', zimbra: 'Commandes Zimbra', notes: 'À savoir',
  },
  en: {
    title: (d) => `# Socle's mail: what the mail team publishes for ${d}`,
    intro: (files) => `Socle sends mail only through the city's Zimbra. For it to be delivered and trusted, the mail team publishes these DNS records and runs these Zimbra commands (files: ${files}).`,
    dns: 'DNS records', zimbra: 'Zimbra commands', notes: 'Good to know',
  },
};

function readmeIn(lang: 'fr' | 'en', r: MailRecords, files: string): string[] {
  const w = README_WORDS[lang];
  return [
    w.title(r.domain), '', w.intro(files), '',
    `## ${w.dns}`, '', ...r.records.flatMap((rec) => [`- \`${rec.name}\` ${rec.type} \`${rec.value}\``, `  ${rec.why[lang]}`]), '',
    `## ${w.zimbra}`, '', ...r.zimbra.flatMap((c) => [`- \`${c.command}\``, `  ${c.why[lang]}`]), '',
    `## ${w.notes}`, '', ...r.notes.map((n) => `- ${n[lang]}`),
  ];
}

/** LISEZMOI.md: French first (the city's mail team), then English. */
function readme(r: MailRecords): string {
  const files = [`dns-${r.domain}.zone`, 'zimbra-commands.sh', ...(r.mtaStsPolicy !== undefined ? ['mta-sts.txt'] : [])].join(', ');
  return [...readmeIn('fr', r, files), '', ...readmeIn('en', r, files), ''].join('\n');
}

/** File name -> content, written under cdktf.out/mail/<slug>/ (mailRecordsDir). */
export function mailRecordFiles(r: MailRecords): Record<string, string> {
  return {
    [`dns-${r.domain}.zone`]: zoneFile(r),
    'zimbra-commands.sh': zimbraScript(r),
    'LISEZMOI.md': readme(r),
    ...(r.mtaStsPolicy !== undefined ? { 'mta-sts.txt': r.mtaStsPolicy } : {}),
  };
}

/** Where synth writes a commune's files, relative to the output directory. */
export function mailRecordsDir(r: MailRecords): string {
  return `mail/${r.commune}`;
}

function kindOf(rec: MailRecord, domain: string): string {
  if (rec.name === domain) return 'SPF';
  if (rec.name.includes('._domainkey.')) return 'DKIM';
  if (rec.name.includes('._report._dmarc.')) return 'DMARC report authorization';
  if (rec.name.startsWith('_dmarc.')) return 'DMARC';
  if (rec.name.startsWith('_mta-sts.')) return 'MTA-STS';
  if (rec.name.startsWith('_smtp._tls.')) return 'TLS-RPT';
  return rec.type;
}

/** A few lines for the synth summary. */
export function mailRecordsSummary(r: MailRecords): string[] {
  const dir = mailRecordsDir(r);
  return [
    `mail ${r.domain}: the city's mail team publishes ${r.records.length} DNS record(s) (${r.records.map((x) => kindOf(x, r.domain)).join(', ')}) and runs ${r.zimbra.length} Zimbra command(s)`,
    `  see ${dir}/LISEZMOI.md (FR, then EN), ${dir}/dns-${r.domain}.zone, ${dir}/zimbra-commands.sh`,
  ];
}
