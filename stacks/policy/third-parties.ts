/**
 * Hosts no Socle container or config may point at: the services the citizen audit found between
 * citizens and their data (a US CDN, click-tracking mail relays, analytics), plus public registries
 * that would turn a deploy into a download from a third party. Maintained here; one entry per
 * registrable domain, matched on the domain itself and every subdomain.
 */
export interface ThirdParty {
  readonly domain: string;
  readonly category: 'cdn' | 'analytics' | 'fonts' | 'mail-relay' | 'registry' | 'phone-home' | 'saas';
  readonly vendor: string;
}

export const THIRD_PARTIES: readonly ThirdParty[] = [
  // CDNs and edge proxies
  { domain: 'cloudflare.com', category: 'cdn', vendor: 'Cloudflare' },
  { domain: 'cloudflare.net', category: 'cdn', vendor: 'Cloudflare' },
  { domain: 'cloudflareinsights.com', category: 'analytics', vendor: 'Cloudflare' },
  { domain: 'cloudfront.net', category: 'cdn', vendor: 'Amazon CloudFront' },
  { domain: 'akamaihd.net', category: 'cdn', vendor: 'Akamai' },
  { domain: 'akamaized.net', category: 'cdn', vendor: 'Akamai' },
  { domain: 'edgekey.net', category: 'cdn', vendor: 'Akamai' },
  { domain: 'fastly.net', category: 'cdn', vendor: 'Fastly' },
  { domain: 'jsdelivr.net', category: 'cdn', vendor: 'jsDelivr' },
  { domain: 'unpkg.com', category: 'cdn', vendor: 'unpkg' },
  { domain: 'cdnjs.com', category: 'cdn', vendor: 'cdnjs' },
  { domain: 'bootstrapcdn.com', category: 'cdn', vendor: 'BootstrapCDN' },
  { domain: 'azureedge.net', category: 'cdn', vendor: 'Azure CDN' },
  { domain: 'jquery.com', category: 'cdn', vendor: 'jQuery CDN' },
  { domain: 'gravatar.com', category: 'analytics', vendor: 'Gravatar (Automattic)' },
  { domain: 'google.com', category: 'analytics', vendor: 'Google (reCAPTCHA, Maps, ...)' },
  { domain: 'recaptcha.net', category: 'analytics', vendor: 'Google reCAPTCHA' },
  { domain: 'hcaptcha.com', category: 'analytics', vendor: 'hCaptcha' },
  { domain: 'youtube.com', category: 'analytics', vendor: 'YouTube embeds' },
  { domain: 'mapbox.com', category: 'cdn', vendor: 'Mapbox' },
  // Analytics, tag managers, trackers
  { domain: 'google-analytics.com', category: 'analytics', vendor: 'Google Analytics' },
  { domain: 'analytics.google.com', category: 'analytics', vendor: 'Google Analytics' },
  { domain: 'googletagmanager.com', category: 'analytics', vendor: 'Google Tag Manager' },
  { domain: 'googlesyndication.com', category: 'analytics', vendor: 'Google' },
  { domain: 'doubleclick.net', category: 'analytics', vendor: 'Google DoubleClick' },
  { domain: 'facebook.net', category: 'analytics', vendor: 'Meta pixel' },
  { domain: 'connect.facebook.net', category: 'analytics', vendor: 'Meta pixel' },
  { domain: 'hotjar.com', category: 'analytics', vendor: 'Hotjar' },
  { domain: 'segment.io', category: 'analytics', vendor: 'Segment' },
  { domain: 'segment.com', category: 'analytics', vendor: 'Segment' },
  { domain: 'mixpanel.com', category: 'analytics', vendor: 'Mixpanel' },
  { domain: 'matomo.cloud', category: 'analytics', vendor: 'Matomo Cloud (hosted, not the city\'s)' },
  { domain: 'xiti.com', category: 'analytics', vendor: 'AT Internet' },
  { domain: 'sentry.io', category: 'phone-home', vendor: 'Sentry' },
  // Web fonts and shared assets
  { domain: 'fonts.googleapis.com', category: 'fonts', vendor: 'Google Fonts' },
  { domain: 'fonts.gstatic.com', category: 'fonts', vendor: 'Google Fonts' },
  { domain: 'googleapis.com', category: 'cdn', vendor: 'Google' },
  { domain: 'gstatic.com', category: 'cdn', vendor: 'Google' },
  { domain: 'typekit.net', category: 'fonts', vendor: 'Adobe Fonts' },
  { domain: 'fontawesome.com', category: 'fonts', vendor: 'Font Awesome CDN' },
  // Transactional mail relays (the audit found Mandrill click-tracking links)
  { domain: 'mandrillapp.com', category: 'mail-relay', vendor: 'Mandrill' },
  { domain: 'mailchimp.com', category: 'mail-relay', vendor: 'Mailchimp' },
  { domain: 'mcsv.net', category: 'mail-relay', vendor: 'Mailchimp' },
  { domain: 'list-manage.com', category: 'mail-relay', vendor: 'Mailchimp' },
  { domain: 'sendgrid.net', category: 'mail-relay', vendor: 'SendGrid' },
  { domain: 'sendgrid.com', category: 'mail-relay', vendor: 'SendGrid' },
  { domain: 'mailgun.org', category: 'mail-relay', vendor: 'Mailgun' },
  { domain: 'mailgun.net', category: 'mail-relay', vendor: 'Mailgun' },
  { domain: 'amazonses.com', category: 'mail-relay', vendor: 'Amazon SES' },
  { domain: 'amazonaws.com', category: 'saas', vendor: 'Amazon Web Services' },
  { domain: 'sparkpostmail.com', category: 'mail-relay', vendor: 'SparkPost' },
  { domain: 'postmarkapp.com', category: 'mail-relay', vendor: 'Postmark' },
  { domain: 'sendinblue.com', category: 'mail-relay', vendor: 'Brevo (Sendinblue)' },
  { domain: 'brevo.com', category: 'mail-relay', vendor: 'Brevo' },
  { domain: 'mailjet.com', category: 'mail-relay', vendor: 'Mailjet' },
  { domain: 'smtp.gmail.com', category: 'mail-relay', vendor: 'Gmail' },
  { domain: 'office365.com', category: 'mail-relay', vendor: 'Microsoft 365' },
  // Public registries: images must come from the city's registry
  { domain: 'docker.io', category: 'registry', vendor: 'Docker Hub' },
  { domain: 'docker.com', category: 'registry', vendor: 'Docker Hub' },
  { domain: 'ghcr.io', category: 'registry', vendor: 'GitHub Container Registry' },
  { domain: 'quay.io', category: 'registry', vendor: 'Quay' },
  { domain: 'gcr.io', category: 'registry', vendor: 'Google Container Registry' },
  { domain: 'pkg.dev', category: 'registry', vendor: 'Google Artifact Registry' },
  { domain: 'mcr.microsoft.com', category: 'registry', vendor: 'Microsoft Container Registry' },
  // Vendors' update and marketplace endpoints ("phone home")
  { domain: 'plugins.matomo.org', category: 'phone-home', vendor: 'Matomo marketplace' },
  { domain: 'api.matomo.org', category: 'phone-home', vendor: 'Matomo update check' },
  { domain: 'comfortupdate.limesurvey.org', category: 'phone-home', vendor: 'LimeSurvey ComfortUpdate' },
  // Consultation SaaS the audit found
  { domain: 'cap-collectif.com', category: 'saas', vendor: 'Cap Collectif' },
];

/** The deny-list entry covering `host`, if any (the host itself or a parent domain). */
export function thirdPartyFor(host: string): ThirdParty | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  return THIRD_PARTIES.find((t) => h === t.domain || h.endsWith(`.${t.domain}`));
}

// Host names inside free text: URLs, e-mail domains, bare names. Needs a dot and a letter TLD.
const HOST_IN_TEXT = /(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}/gi;

/** Every deny-listed host mentioned in a piece of text (URL, e-mail, env value...). */
export function thirdPartiesIn(text: string): Array<{ host: string; party: ThirdParty }> {
  const found: Array<{ host: string; party: ThirdParty }> = [];
  for (const m of text.matchAll(HOST_IN_TEXT)) {
    const party = thirdPartyFor(m[0]);
    if (party) found.push({ host: m[0].toLowerCase(), party });
  }
  return found;
}
