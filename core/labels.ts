/** Labels every engine object carries, so audits (and npm run backup) can enumerate them. */
export const LABEL = {
  commune: 'fr.socle.commune',
  host: 'fr.socle.host',
  service: 'fr.socle.service',
  role: 'fr.socle.role',
  tier: 'fr.socle.tier',
  dataCategory: 'fr.socle.data-category',
  personalData: 'fr.socle.personal-data',
  retention: 'fr.socle.retention',
  backup: 'fr.socle.backup',
} as const;
