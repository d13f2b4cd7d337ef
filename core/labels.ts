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
  /** What deletes the data once its retention is over; absent when nothing does (an audit finding). */
  retentionEnforcedBy: 'fr.socle.retention-enforced-by',
  backup: 'fr.socle.backup',
  /** On a database server's volume: its data is backed up as a dump of the database, not as files. */
  backupDump: 'fr.socle.backup-dump',
  /** On a container whose new image migrates data: the command that accepts a pre-upgrade backup (scripts/lib/upgrade-gate.ts). */
  upgradeGate: 'fr.socle.upgrade-gate',
} as const;
