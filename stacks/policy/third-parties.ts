/**
 * Hosts no Socle container or config may point at: the services the citizen audit found between
 * citizens and their data (a US CDN, click-tracking mail relays, analytics), plus public registries
 * that would turn a deploy into a download from a third party. Maintained here; one entry per
 * registrable domain, matched on the domain itself and every subdomain. This is the second net: a
 * city file must already declare what it owns (commune.owns) and who else it relies on
 * (externalParties), so a provider missing here does not pass for that. Entries go by category,
 * every major vendor of it, not only the ones an audit happened to meet.
 */
export interface ThirdParty {
  readonly domain: string;
  readonly category: 'cdn' | 'analytics' | 'fonts' | 'mail-relay' | 'registry' | 'storage' | 'social' | 'embed' | 'phone-home' | 'saas';
  readonly vendor: string;
}

const THIRD_PARTIES: readonly ThirdParty[] = [
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
  { domain: 'youtube.com', category: 'embed', vendor: 'YouTube embeds' },
  { domain: 'mapbox.com', category: 'embed', vendor: 'Mapbox' },
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
  { domain: 'hotjar.io', category: 'analytics', vendor: 'Hotjar' },
  { domain: 'clarity.ms', category: 'analytics', vendor: 'Microsoft Clarity' },
  { domain: 'amplitude.com', category: 'analytics', vendor: 'Amplitude' },
  { domain: 'heapanalytics.com', category: 'analytics', vendor: 'Heap' },
  { domain: 'fullstory.com', category: 'analytics', vendor: 'FullStory' },
  { domain: 'mouseflow.com', category: 'analytics', vendor: 'Mouseflow' },
  { domain: 'crazyegg.com', category: 'analytics', vendor: 'Crazy Egg' },
  { domain: 'statcounter.com', category: 'analytics', vendor: 'StatCounter' },
  { domain: 'quantserve.com', category: 'analytics', vendor: 'Quantcast' },
  { domain: 'nr-data.net', category: 'analytics', vendor: 'New Relic browser agent' },
  { domain: 'matomo.cloud', category: 'analytics', vendor: 'Matomo Cloud (hosted, not the city\'s)' },
  // "Privacy-friendly" analytics are still someone else's servers receiving every visit.
  { domain: 'plausible.io', category: 'analytics', vendor: 'Plausible Analytics (hosted)' },
  { domain: 'usefathom.com', category: 'analytics', vendor: 'Fathom Analytics' },
  { domain: 'simpleanalytics.com', category: 'analytics', vendor: 'Simple Analytics' },
  { domain: 'simpleanalyticscdn.com', category: 'analytics', vendor: 'Simple Analytics' },
  { domain: 'umami.is', category: 'analytics', vendor: 'Umami Cloud' },
  { domain: 'pirsch.io', category: 'analytics', vendor: 'Pirsch Analytics' },
  { domain: 'goatcounter.com', category: 'analytics', vendor: 'GoatCounter (hosted)' },
  // Social-network pixels, share buttons and embeds
  { domain: 'facebook.com', category: 'social', vendor: 'Meta (Facebook)' },
  { domain: 'fbcdn.net', category: 'social', vendor: 'Meta (Facebook)' },
  { domain: 'instagram.com', category: 'social', vendor: 'Meta (Instagram)' },
  { domain: 'twitter.com', category: 'social', vendor: 'X (Twitter) widgets' },
  { domain: 'x.com', category: 'social', vendor: 'X (Twitter)' },
  { domain: 'twimg.com', category: 'social', vendor: 'X (Twitter)' },
  { domain: 'linkedin.com', category: 'social', vendor: 'LinkedIn Insight tag' },
  { domain: 'licdn.com', category: 'social', vendor: 'LinkedIn' },
  { domain: 'tiktok.com', category: 'social', vendor: 'TikTok pixel' },
  { domain: 'tiktokcdn.com', category: 'social', vendor: 'TikTok' },
  { domain: 'pinterest.com', category: 'social', vendor: 'Pinterest tag' },
  { domain: 'pinimg.com', category: 'social', vendor: 'Pinterest' },
  { domain: 'snapchat.com', category: 'social', vendor: 'Snapchat pixel' },
  { domain: 'redditstatic.com', category: 'social', vendor: 'Reddit pixel' },
  { domain: 'addthis.com', category: 'social', vendor: 'AddThis share buttons' },
  { domain: 'sharethis.com', category: 'social', vendor: 'ShareThis share buttons' },
  // Video and map embeds served by others
  { domain: 'youtube-nocookie.com', category: 'embed', vendor: 'YouTube embeds' },
  { domain: 'ytimg.com', category: 'embed', vendor: 'YouTube' },
  { domain: 'googlevideo.com', category: 'embed', vendor: 'YouTube' },
  { domain: 'vimeo.com', category: 'embed', vendor: 'Vimeo' },
  { domain: 'vimeocdn.com', category: 'embed', vendor: 'Vimeo' },
  { domain: 'dailymotion.com', category: 'embed', vendor: 'Dailymotion' },
  { domain: 'dmcdn.net', category: 'embed', vendor: 'Dailymotion' },
  { domain: 'twitch.tv', category: 'embed', vendor: 'Twitch' },
  { domain: 'tile.openstreetmap.org', category: 'embed', vendor: 'OpenStreetMap tile servers (not for third-party sites)' },
  { domain: 'tile.openstreetmap.fr', category: 'embed', vendor: 'OpenStreetMap France tile servers' },
  { domain: 'cartocdn.com', category: 'embed', vendor: 'CARTO basemaps' },
  { domain: 'arcgisonline.com', category: 'embed', vendor: 'Esri ArcGIS tiles' },
  { domain: 'maptiler.com', category: 'embed', vendor: 'MapTiler' },
  { domain: 'thunderforest.com', category: 'embed', vendor: 'Thunderforest' },
  { domain: 'stadiamaps.com', category: 'embed', vendor: 'Stadia Maps' },
  { domain: 'here.com', category: 'embed', vendor: 'HERE maps' },
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
  { domain: 'amazonaws.com', category: 'saas', vendor: 'Amazon Web Services (ECR registries, S3 storage...)' },
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
  { domain: 'ecr.aws', category: 'registry', vendor: 'Amazon ECR Public' },
  { domain: 'azurecr.io', category: 'registry', vendor: 'Azure Container Registry' },
  { domain: 'ocir.io', category: 'registry', vendor: 'Oracle Cloud Infrastructure Registry' },
  { domain: 'oraclecloud.com', category: 'registry', vendor: 'Oracle Cloud' },
  { domain: 'icr.io', category: 'registry', vendor: 'IBM Cloud Container Registry' },
  { domain: 'registry.gitlab.com', category: 'registry', vendor: 'GitLab Container Registry' },
  { domain: 'registry.digitalocean.com', category: 'registry', vendor: 'DigitalOcean Container Registry' },
  { domain: 'scw.cloud', category: 'registry', vendor: 'Scaleway (registry, object storage)' },
  { domain: 'container-registry.ovh.net', category: 'registry', vendor: 'OVHcloud Managed Private Registry' },
  { domain: 'jfrog.io', category: 'registry', vendor: 'JFrog Artifactory (SaaS)' },
  { domain: 'nvcr.io', category: 'registry', vendor: 'NVIDIA NGC' },
  { domain: 'registry.k8s.io', category: 'registry', vendor: 'Kubernetes public registry' },
  { domain: 'registry.heroku.com', category: 'registry', vendor: 'Heroku' },
  // Commercial storage a backup target must not be (city storage only)
  { domain: 'backblazeb2.com', category: 'storage', vendor: 'Backblaze B2' },
  { domain: 'backblaze.com', category: 'storage', vendor: 'Backblaze' },
  { domain: 'wasabisys.com', category: 'storage', vendor: 'Wasabi' },
  { domain: 'core.windows.net', category: 'storage', vendor: 'Azure Storage' },
  { domain: 'digitaloceanspaces.com', category: 'storage', vendor: 'DigitalOcean Spaces' },
  { domain: 'cloudflarestorage.com', category: 'storage', vendor: 'Cloudflare R2' },
  { domain: 'io.cloud.ovh.net', category: 'storage', vendor: 'OVHcloud Object Storage' },
  { domain: 'your-storagebox.de', category: 'storage', vendor: 'Hetzner Storage Box' },
  { domain: 'rsync.net', category: 'storage', vendor: 'rsync.net' },
  { domain: 'borgbase.com', category: 'storage', vendor: 'BorgBase' },
  { domain: 'tarsnap.com', category: 'storage', vendor: 'Tarsnap' },
  { domain: 'idrivee2.com', category: 'storage', vendor: 'IDrive e2' },
  { domain: 'dropboxapi.com', category: 'storage', vendor: 'Dropbox' },
  { domain: 'dropbox.com', category: 'storage', vendor: 'Dropbox' },
  { domain: 'pcloud.com', category: 'storage', vendor: 'pCloud' },
  // Vendors' update and marketplace endpoints ("phone home")
  { domain: 'plugins.matomo.org', category: 'phone-home', vendor: 'Matomo marketplace' },
  { domain: 'api.matomo.org', category: 'phone-home', vendor: 'Matomo update check' },
  { domain: 'comfortupdate.limesurvey.org', category: 'phone-home', vendor: 'LimeSurvey ComfortUpdate' },
  // Consultation SaaS the audit found
  { domain: 'cap-collectif.com', category: 'saas', vendor: 'Cap Collectif' },
];

/** The deny-list entry covering `host`, if any (the host itself or a parent domain; the closest wins). */
function thirdPartyFor(host: string): ThirdParty | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  return THIRD_PARTIES.filter((t) => h === t.domain || h.endsWith(`.${t.domain}`)).sort((a, b) => b.domain.length - a.domain.length)[0];
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
