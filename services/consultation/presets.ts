import { ownOriginCsp } from '../common/frontend.js';

/**
 * How a consultation app is run: image, port, commands and the environment it reads. A commune
 * takes the preset and overrides what differs (`services.consultation.image/port/env` in its file).
 * Values may use placeholders filled by the construct: {{database.url}}, {{smtp.host}}, ...
 */
export interface ConsultationPreset {
  /** Image catalog key, or a name under the city registry namespace. */
  readonly image: string;
  readonly port: number;
  /** The web container's command, for the port it listens on (migrations first, then the server). */
  readonly webCommand: (port: number) => readonly string[];
  /** Background jobs (mail, notifications, exports). */
  readonly workerCommand: readonly string[];
  /** The worker's program as the process list shows it: its healthcheck looks for it. */
  readonly workerProcess: string;
  /** Runs the app's periodic tasks (see `schedule`). */
  readonly schedulerCommand: readonly string[];
  /** The scheduler's marker in the process list: its healthcheck looks for it. */
  readonly schedulerProcess: string;
  /** Directories holding uploads: persistent, personal data. */
  readonly dataPaths: readonly string[];
  /** Writable scratch directories on a read-only root (path -> MiB). */
  readonly scratch: Readonly<Record<string, number>>;
  /** Liveness check run inside the web container, for the port it listens on. */
  readonly healthcheck: (port: number) => readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Content-Security-Policy of the site: own origin only. */
  readonly csp: string;
  /** How long what participants leave is kept, and what deletes it: the register and the audit say it. */
  readonly retention: { readonly database: Retention; readonly uploads: Retention };
}

/** A store's retention and the mechanism that enforces it (VolumeProps). */
export interface Retention {
  readonly retention: string;
  readonly retentionEnforcedBy?: string;
}

/** Where Decidim's generated application lives in ghcr.io/decidim/decidim (decidim/docker, Dockerfile-generator: WORKDIR /code). */
export const DECIDIM_APP_DIR = '/code';

const GEN = 'decidim-generators/lib/decidim/generators';
const PRODUCTION_RB = 'config/environments/production.rb of the generated app';

/**
 * The contract with the pinned Decidim release (services/common/images.ts): every variable the
 * preset sets, and the file that reads it. A variable nobody reads is not set: the test checks the
 * rendered environment against this table, both ways. Paths are in decidim/decidim unless named
 * otherwise; the image is the app `decidim --queue sidekiq .` generates (decidim/docker, Dockerfile).
 */
export const DECIDIM_ENV_CONTRACT: Readonly<Record<string, string>> = {
  RAILS_ENV: 'Rails (railties); the image sets it too (decidim/docker, Dockerfile: ENV RAILS_ENV=production)',
  DATABASE_URL: `${GEN}/app_templates/database.yml.erb (production: url)`,
  REDIS_URL: `Sidekiq (sidekiq/sidekiq, lib/sidekiq/redis_connection.rb: its default variable) and ${GEN}/app_templates/cable.yml.erb`,
  QUEUE_ADAPTER: `${PRODUCTION_RB}: the line ${GEN}/app_generator.rb (add_queue_adapter) writes for --queue sidekiq; unset, jobs run in-process (Rails' async adapter)`,
  SECRET_KEY_BASE: 'Rails (Rails.application.secret_key_base in production); Decidim 0.31 removed config/secrets.yml',
  SMTP_ADDRESS: `${PRODUCTION_RB}: the block ${GEN}/install_generator.rb (smtp_environment) writes`,
  SMTP_PORT: `${PRODUCTION_RB}: ${GEN}/install_generator.rb (smtp_environment)`,
  SMTP_USERNAME: `${PRODUCTION_RB}: ${GEN}/install_generator.rb (smtp_environment)`,
  SMTP_PASSWORD: `${PRODUCTION_RB}: ${GEN}/install_generator.rb (smtp_environment)`,
  SMTP_DOMAIN: `${PRODUCTION_RB}: ${GEN}/install_generator.rb (smtp_environment)`,
  SMTP_AUTHENTICATION: `${PRODUCTION_RB}: ${GEN}/install_generator.rb (smtp_environment)`,
  SMTP_STARTTLS_AUTO: `${PRODUCTION_RB}: ${GEN}/install_generator.rb (smtp_environment), a real boolean since #16491 (0.31.4; "false" was read as true before)`,
  DECIDIM_MAILER_SENDER: 'decidim-core/lib/decidim/core.rb (config_accessor :mailer_sender)',
  DECIDIM_FORCE_SSL: 'decidim-core/lib/decidim/core.rb (config_accessor :force_ssl)',
  MAPS_PROVIDER: `${GEN}/app_templates/initializer.rb (maps and geocoding only when a provider is set)`,
};

/** Variables the construct adds for Socle's own steps (not Decidim's), and what reads them. */
export const SOCLE_ENV_CONTRACT: Readonly<Record<string, string>> = {
  SOCLE_HOSTNAME: 'the web healthcheck (the Host header Decidim routes by)',
  SOCLE_SMTP_TLS: `the SMTP initializer Socle writes at start (${DECIDIM_APP_DIR}/config/initializers/socle/smtp.rb)`,
  SOCLE_SYSTEM_ADMIN_EMAIL: 'the system admin step of the web start (web container only)',
  SOCLE_SYSTEM_ADMIN_PASSWORD: 'the system admin step of the web start (web container only)',
};

/** One of Decidim's periodic rake tasks. */
export interface ScheduledTask {
  readonly task: string;
  /** `quarter`: every 15 minutes; `day`: once a day, just after 00:00 UTC; `saturday`: that day's round. */
  readonly every: 'quarter' | 'day' | 'saturday';
  /** The personal data it deletes once due (GDPR storage limitation), in French for the register. */
  readonly deletes?: string;
}

/**
 * Decidim's scheduled tasks: the crontab of docs/modules/install/pages/index.adoc ("Scheduled
 * tasks"), with RELEASE_NOTES.md of 0.31 §4.1 (adds decidim:participants:delete_inactive_participants,
 * PR #13816) and §4.2 (removes decidim:metrics:all with the Metrics feature, PR #14387). The tasks of
 * modules the image does not install (initiatives, conferences, ...) are left out:
 * app_generator.rb comments those gems out of the Gemfile.
 */
export const DECIDIM_SCHEDULE: readonly ScheduledTask[] = [
  { task: 'decidim_participatory_processes:change_active_step', every: 'quarter' },
  // decidim-core/lib/tasks/decidim_download_your_data_tasks.rake: files older than
  // DECIDIM_DOWNLOAD_YOUR_DATA_EXPIRY_TIME (7 days) are purged.
  { task: 'decidim:delete_download_your_data_files', every: 'day', deletes: 'les archives « télécharger mes données » de plus de 7 jours' },
  // decidim-core/lib/tasks/decidim_participants_tasks.rake: warns, then deletes accounts inactive
  // for DELETE_INACTIVE_USERS_AFTER_DAYS (365); jobs on the delete_inactive_participants queue,
  // which the generated config/sidekiq.yml lists (app_templates/sidekiq.yml.erb).
  { task: 'decidim:participants:delete_inactive_participants', every: 'day', deletes: 'les comptes sans connexion depuis 365 jours, après deux avertissements : nom, adresse et avatar effacés' },
  { task: 'decidim:open_data:export', every: 'day' },
  { task: 'decidim_meetings:clean_registration_forms', every: 'day' },
  { task: 'decidim:reminders:all', every: 'day' },
  { task: 'decidim:mailers:notifications_digest_daily', every: 'day' },
  { task: 'decidim:mailers:notifications_digest_weekly', every: 'saturday' },
];

/**
 * What Decidim's generated production.rb cannot be told by environment, written as an initializer
 * before any process starts: it sets `openssl_verify_mode: 'none'` (no certificate check) and has no
 * implicit-TLS switch (install_generator.rb, smtp_environment). Mail 2.8 (Rails 7.1+): STARTTLS
 * `:always` refuses to send in clear when the server offers no STARTTLS; `tls` is SMTPS (port 465).
 * after_initialize runs once ActionMailer has applied production.rb, so these settings win.
 */
export const DECIDIM_SMTP_INITIALIZER = `# Written by Socle at every start (services/consultation/presets.ts).
Rails.application.config.after_initialize do
  tls = ENV["SOCLE_SMTP_TLS"] == "true"
  ActionMailer::Base.smtp_settings = ActionMailer::Base.smtp_settings.merge(
    openssl_verify_mode: "peer",
    tls: tls,
    enable_starttls: tls ? false : :always,
    enable_starttls_auto: !tls
  )
end
`;

/** The scratch directory (a tmpfs) Rails loads it from: config/initializers/**\/*.rb. */
export const DECIDIM_SOCLE_INITIALIZERS = `${DECIDIM_APP_DIR}/config/initializers/socle`;

/**
 * The first system admin (the /system area, where the organization is created), made from the
 * generated secret at the first start only: decidim_system:create_admin prompts on a terminal
 * (decidim-system/lib/tasks/decidim_system.rake), so the same model call runs through
 * `rails runner`. Once any system admin exists, nothing is changed.
 */
const DECIDIM_SYSTEM_ADMIN_RUBY = [
  'if Decidim::System::Admin.exists?',
  '  puts "socle: a system admin exists, none created"',
  'else',
  '  email = ENV.fetch("SOCLE_SYSTEM_ADMIN_EMAIL")',
  '  password = ENV.fetch("SOCLE_SYSTEM_ADMIN_PASSWORD")',
  '  Decidim::System::Admin.create!(email: email, password: password, password_confirmation: password)',
  '  puts "socle: system admin #{email} created"',
  'end',
].join('\n');

/** Writes the SMTP initializer: the first step of every Decidim process Socle starts. */
const WRITE_SMTP_INITIALIZER = `cat > ${DECIDIM_SOCLE_INITIALIZERS}/smtp.rb <<'RUBY'\n${DECIDIM_SMTP_INITIALIZER}RUBY`;

/**
 * The web start, in order: SMTP initializer, schema migrations, data migrations (Decidim 0.31+
 * release notes: `bin/rails db:migrate` then `bin/rails data:migrate`), the first system admin,
 * then the server. Any failing step stops the container (set -e). Upgrades across minor releases
 * need Decidim's one-time tasks of each release's notes as well: they are not run here.
 */
function decidimWebScript(port: number): string {
  return [
    'set -e',
    '# socle-decidim-web: services/consultation/presets.ts',
    WRITE_SMTP_INITIALIZER,
    'bin/rails db:migrate',
    'bin/rails data:migrate',
    `bin/rails runner '${DECIDIM_SYSTEM_ADMIN_RUBY}'`,
    `exec bin/rails server -b 0.0.0.0 -p ${port}`,
  ].join('\n');
}

/** Sidekiq with the generated config/sidekiq.yml (read by default from the app directory). */
function decidimWorkerScript(): string {
  return ['set -e', '# socle-decidim-worker: services/consultation/presets.ts', WRITE_SMTP_INITIALIZER, 'exec bundle exec sidekiq'].join('\n');
}

const SCHEDULER = 'socle-decidim-scheduler';

/**
 * Decidim's periodic tasks in a loop, as cron would run them: a round every 15 minutes, the daily
 * tasks in the first round of each UTC day (and the Saturday ones that day). A failing task is
 * logged and the others still run. Each task boots Rails on its own: one failure cannot skip the
 * personal-data clean-ups.
 */
function decidimSchedulerScript(schedule: readonly ScheduledTask[] = DECIDIM_SCHEDULE): string {
  const runs = (every: ScheduledTask['every'], indent: string) => schedule.filter((t) => t.every === every).map((t) => `${indent}run ${t.task}`);
  return [
    'set -e',
    `# ${SCHEDULER}: Decidim's scheduled tasks (services/consultation/presets.ts)`,
    WRITE_SMTP_INITIALIZER,
    'run() {',
    `  echo "${SCHEDULER}: bin/rails $1"`,
    `  bin/rails "$1" || echo "${SCHEDULER}: $1 failed with status $?" >&2`,
    '}',
    'day=$(date -u +%F)',
    'while true; do',
    '  sleep 900',
    ...runs('quarter', '  '),
    '  today=$(date -u +%F)',
    '  if [ "$today" != "$day" ]; then',
    '    day=$today',
    ...runs('day', '    '),
    '    if [ "$(date -u +%u)" = 6 ]; then',
    ...runs('saturday', '      '),
    '    fi',
    '  fi',
    'done',
  ].join('\n');
}

const RAILS_ENV = {
  RAILS_ENV: 'production',
  DATABASE_URL: '{{database.url}}',
  REDIS_URL: '{{redis.url}}',
  SECRET_KEY_BASE: '{{secretKeyBase}}',
  SMTP_ADDRESS: '{{smtp.host}}',
  SMTP_PORT: '{{smtp.port}}',
  SMTP_USERNAME: '{{smtp.user}}',
  SMTP_PASSWORD: '{{smtp.password}}',
  SMTP_DOMAIN: '{{mail.domain}}',
  SMTP_AUTHENTICATION: 'plain',
};

// Rails apps run inline scripts and styles generated by their asset pipeline: allow inline, but only
// from the site's own origin.
const RAILS_CSP = ownOriginCsp({ inlineScripts: true, inlineStyles: true });

const railsHealth = (port: number) => ['CMD-SHELL', `curl --fail --silent --output /dev/null --header "X-Forwarded-Proto: https" --header "Host: $SOCLE_HOSTNAME" http://127.0.0.1:${port}/ || exit 1`];

/** What the scheduler deletes, as the register and the audit name it: taken from the schedule it runs. */
function scheduledDeletions(schedule: readonly ScheduledTask[] = DECIDIM_SCHEDULE): string {
  return `le conteneur consultation-scheduler, chaque jour : ${schedule.filter((t) => t.deletes).map((t) => `${t.task} (${t.deletes})`).join(' ; ')}`;
}

export const PRESETS: Readonly<Record<'decidim', ConsultationPreset>> = {
  decidim: {
    image: 'decidim',
    port: 3000,
    webCommand: (port) => ['sh', '-c', decidimWebScript(port)],
    workerCommand: ['sh', '-c', decidimWorkerScript()],
    workerProcess: 'sidekiq',
    schedulerCommand: ['sh', '-c', decidimSchedulerScript()],
    schedulerProcess: SCHEDULER,
    // Active Storage's local service (app_templates/storage.yml: root Rails.root/storage): uploads,
    // "download your data" archives and open data exports.
    dataPaths: [`${DECIDIM_APP_DIR}/storage`],
    // tmp: pids, Bootsnap and Rails' file cache; the initializer Socle writes; /tmp: uploads in progress.
    scratch: { [`${DECIDIM_APP_DIR}/tmp`]: 256, [DECIDIM_SOCLE_INITIALIZERS]: 1, '/tmp': 128 },
    healthcheck: railsHealth,
    env: {
      ...RAILS_ENV,
      // Jobs (mail included) go to Redis and the worker: they survive a restart.
      QUEUE_ADAPTER: 'sidekiq',
      SMTP_STARTTLS_AUTO: '{{smtp.starttls}}',
      SOCLE_SMTP_TLS: '{{smtp.tls}}',
      DECIDIM_MAILER_SENDER: '{{mail.from}}',
      // The proxy redirects HTTP to HTTPS on the clearnet; the onion site is plain HTTP inside Tor,
      // where a forced redirect to https://<address>.onion would lead nowhere.
      DECIDIM_FORCE_SSL: 'false',
      // No third-party map or geocoding service unless the city hosts one. Etherpad stays off while
      // ETHERPAD_SERVER and ETHERPAD_API_KEY are unset (initializer.rb).
      MAPS_PROVIDER: '',
    },
    csp: RAILS_CSP,
    // Decidim's DestroyAccount empties the name and address and removes the avatar; what the
    // participant published stays, under "deleted participant".
    retention: {
      database: {
        retention: 'compte d’un participant : 365 jours après sa dernière connexion, puis nom, adresse et avatar effacés ; contributions publiées : conservées sans le nom de leur auteur',
        retentionEnforcedBy: scheduledDeletions(),
      },
      uploads: {
        retention: 'archives « télécharger mes données » : 7 jours ; avatar : jusqu’à la suppression du compte ; pièces jointes : avec la contribution publiée',
        retentionEnforcedBy: scheduledDeletions(),
      },
    },
  },
};
