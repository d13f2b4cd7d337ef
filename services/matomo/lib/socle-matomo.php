<?php
// Socle's side of Matomo, run by the entry point (bin/socle-matomo) as www-data:
//   wait                      the database answers (120 s)
//   state                     "empty", "installed <version_core>", or "foreign <tables>"
//   write-config SRC DEST     SRC (rendered by the stack) + salt and mail password from the
//                             environment + the plugins the database records as installed -> DEST
//   install                   a fresh installation, by code (what Matomo's web installer does)
//   apply SETTINGS.json       the sites and the privacy settings (CNIL conditions) through Matomo's API
//   check                     those settings read back from Matomo, as JSON (the audit reads it)
//   token HOURS               a new app token of the super user, valid HOURS (the log importer's)
//   authorize-upgrade SNAPSHOT   records that a backup of the database as it is now was taken
//   take-upgrade-authorization   prints "<version_core> <snapshot>" of that record and deletes it
//   log-imported DAY / mark-log-imported DAY   whether a day of the proxy's logs was imported
//   audience-data FROM TO     page views and visits per day, page and site, from the raw data
const PREFIX = 'matomo_';
const ROOT = '/var/www/matomo';

function fail(string $message): never {
    fwrite(STDERR, "socle-matomo: $message\n");
    exit(1);
}

function connect(): PDO {
    $dsn = sprintf('mysql:host=%s;port=%s;dbname=%s;charset=utf8mb4', getenv('DB_HOST'), getenv('DB_PORT') ?: '3306', getenv('DB_NAME'));
    return new PDO($dsn, getenv('DB_USERNAME'), getenv('DB_PASSWORD'), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 3]);
}

function option(PDO $db, string $name): ?string {
    $q = $db->prepare('SELECT option_value FROM ' . PREFIX . 'option WHERE option_name = ?');
    $q->execute([$name]);
    $value = $q->fetchColumn();
    return $value === false ? null : (string) $value;
}

function setOption(PDO $db, string $name, string $value): void {
    $db->prepare('REPLACE INTO ' . PREFIX . 'option (option_name, option_value, autoload) VALUES (?, ?, 0)')->execute([$name, $value]);
}

/** Matomo itself, as its console starts it, acting as super user. */
function matomo(): void {
    define('PIWIK_DOCUMENT_ROOT', ROOT);
    define('PIWIK_INCLUDE_PATH', ROOT);
    define('PIWIK_USER_PATH', ROOT);
    chdir(ROOT);
    require_once ROOT . '/core/bootstrap.php';
    \Piwik\FrontController::setUpSafeMode();
    $environment = new \Piwik\Application\Environment('cli');
    $environment->init();
    \Piwik\Plugin\Manager::getInstance()->loadActivatedPlugins();
    \Piwik\Plugin\Manager::getInstance()->loadPluginTranslations();
    \Piwik\Access::getInstance()->setSuperUserAccess(true);
    // The API asks an administrator in a browser to confirm with a password; this is code, run by
    // the entry point with the environment's credentials, not a session anyone could hijack.
    \Piwik\EventDispatcher::getInstance()->addObserver('Login.userRequiresPasswordConfirmation', function (&$required) { $required = false; });
}

function api(string $method, array $params = []) {
    return \Piwik\API\Request::processRequest($method, $params + ['format' => 'original'], []);
}

$command = $argv[1] ?? '';

if ($command === 'wait') {
    $deadline = time() + 120;
    while (true) {
        try { connect(); exit(0); } catch (PDOException $e) {
            if (time() > $deadline) fail('the database does not answer after 120 s: ' . $e->getMessage());
            sleep(2);
        }
    }
}

if ($command === 'state') {
    $db = connect();
    $tables = $db->query('SHOW TABLES')->fetchAll(PDO::FETCH_COLUMN);
    if (!$tables) { echo "empty\n"; exit(0); }
    $version = in_array(PREFIX . 'option', $tables, true) ? option($db, 'version_core') : null;
    echo $version === null ? 'foreign ' . implode(',', array_slice($tables, 0, 5)) . "\n" : "installed $version\n";
    exit(0);
}

if ($command === 'write-config') {
    [$source, $dest] = [$argv[2] ?? '', $argv[3] ?? ''];
    $ini = @file_get_contents($source);
    if ($ini === false) fail("$source is missing: the stack writes it; redeploy");
    $salt = (string) getenv('MATOMO_SALT');
    if (strlen($salt) < 32) fail('MATOMO_SALT is missing or shorter than 32 characters: the stack generates it; redeploy');
    $quote = fn (string $v) => '"' . str_replace(['\\', '"'], ['\\\\', '\\"'], $v) . '"';
    $ini = preg_replace('/^\[General\]$/m', "[General]\nsalt = " . $quote($salt), $ini, 1);
    $ini = preg_replace('/^\[mail\]$/m', "[mail]\npassword = " . $quote((string) getenv('SMTP_PASSWORD')), $ini, 1);
    // The database is the record of what is installed (version_<Plugin> options): a restart, a new
    // image or a restored backup never reinstalls a plugin over its tables.
    try {
        $db = connect();
        $names = $db->query('SELECT option_name FROM ' . PREFIX . "option WHERE option_name LIKE 'version\\_%' AND option_name <> 'version_core'")->fetchAll(PDO::FETCH_COLUMN);
        $plugins = array_values(array_filter(array_map(fn ($n) => substr($n, strlen('version_')), $names), fn ($p) => is_dir(ROOT . "/plugins/$p")));
    } catch (PDOException $e) {
        $plugins = [];
    }
    if ($plugins) $ini .= "\n[PluginsInstalled]\n" . implode('', array_map(fn ($p) => "PluginsInstalled[] = \"$p\"\n", $plugins));
    @mkdir(dirname($dest), 0700, true);
    $old = umask(0077);
    if (file_put_contents("$dest.part", $ini) === false || !rename("$dest.part", $dest)) fail("cannot write $dest");
    umask($old);
    exit(0);
}

if ($command === 'install') {
    matomo();
    if (\Piwik\DbHelper::getTablesInstalled()) fail('the database already holds Matomo tables: refusing to install over them');
    // The steps of Matomo's web installer (plugins/Installation/Controller.php), without its forms.
    \Piwik\DbHelper::createTables();
    \Piwik\DbHelper::createAnonymousUser();
    \Piwik\DbHelper::recordInstallVersion();
    \Piwik\Plugin\Manager::getInstance()->installLoadedPlugins();
    $updater = new \Piwik\Updater();
    $components = $updater->getComponentUpdates();
    if ($components) {
        $result = $updater->updateComponents($components);
        if (!empty($result['errors'])) fail('installing the components failed: ' . implode('; ', $result['errors']));
    }
    \Piwik\Updater::recordComponentSuccessfullyUpdated('core', \Piwik\Version::VERSION);
    $login = getenv('ADMIN_USER') ?: 'admin';
    $password = (string) getenv('ADMIN_PASSWORD');
    if (strlen($password) < 12) fail('ADMIN_PASSWORD is missing or too short: the stack generates it; redeploy');
    api('UsersManager.addUser', ['userLogin' => $login, 'password' => $password, 'email' => getenv('ADMIN_EMAIL')]);
    (new \Piwik\Plugins\UsersManager\UserUpdater())->setSuperUserAccessWithoutCurrentPassword($login, true);
    echo "installed Matomo " . \Piwik\Version::VERSION . ", super user $login\n";
    exit(0);
}

if ($command === 'apply') {
    $settings = json_decode((string) @file_get_contents($argv[2] ?? ''), true);
    if (!is_array($settings)) fail(($argv[2] ?? '(none)') . ' is missing or not JSON: the stack writes it; redeploy');
    matomo();
    // Sites, in the order the stack names them: their ids are in the tracker snippet and the
    // importer's command, so a site is found by name and created only when missing.
    $existing = [];
    foreach (api('SitesManager.getAllSites') as $site) $existing[$site['name']] = (int) $site['idsite'];
    foreach ($settings['sites'] as $site) {
        $common = ['urls' => $site['urls'], 'excludeUnknownUrls' => 1, 'timezone' => $settings['timezone'], 'currency' => 'EUR', 'ecommerce' => 0, 'siteSearch' => 0, 'keepURLFragments' => 2];
        $id = $existing[$site['name']] ?? null;
        if ($id === null) $id = (int) api('SitesManager.addSite', ['siteName' => $site['name']] + $common);
        else api('SitesManager.updateSite', ['idSite' => $id, 'siteName' => $site['name']] + $common);
        if ($id !== (int) $site['id']) fail("site \"{$site['name']}\" has id $id in Matomo, the stack expects {$site['id']}: a site was added by hand before Socle's; rename or delete it in Matomo, then restart");
    }
    $p = $settings['privacy'];
    // IP addresses masked before anything is stored or enriched (geolocation runs on the mask).
    api('PrivacyManager.setAnonymizeIpSettings', ['anonymizeIPEnable' => 1, 'maskLength' => $p['ipMaskBytes'], 'useAnonymizedIpForVisitEnrichment' => 1,
        'anonymizeUserId' => 1, 'anonymizeOrderId' => 1, 'anonymizeReferrer' => 'exclude_query']);
    api('PrivacyManager.setDeleteLogsSettings', ['enableDeleteLogs' => 1, 'deleteLogsOlderThan' => $p['rawDataRetentionDays']]);
    if ($p['doNotTrack']) api('PrivacyManager.activateDoNotTrack');
    api('SitesManager.setGlobalExcludedQueryParameters', ['excludedQueryParameters' => implode(',', $p['excludedQueryParameters'])]);
    echo 'applied: ' . count($settings['sites']) . " sites, privacy settings\n";
    exit(0);
}

if ($command === 'check') {
    matomo();
    // The privacy settings are read through the tracker's cache: emptied first, so the read-back
    // is what the database holds now, not what an earlier request cached.
    \Piwik\Tracker\Cache::deleteTrackerCache();
    $purge = \Piwik\Plugins\PrivacyManager\PrivacyManager::getPurgeDataSettings();
    $privacy = new \Piwik\Plugins\PrivacyManager\Config();
    $sites = array_map(fn ($s) => ['id' => (int) $s['idsite'], 'name' => $s['name'], 'urls' => api('SitesManager.getSiteUrlsFromId', ['idSite' => $s['idsite']]), 'excludeUnknownUrls' => (bool) $s['exclude_unknown_urls']], array_values(api('SitesManager.getAllSites')));
    echo json_encode([
        'version' => \Piwik\Version::VERSION,
        'superUsers' => count(api('UsersManager.getUsersHavingSuperUserAccess')),
        'ipAnonymization' => ['enabled' => (bool) \Piwik\Plugins\PrivacyManager\IPAnonymizer::isActive(), 'maskLength' => (int) $privacy->ipAddressMaskLength, 'forEnrichment' => (bool) $privacy->useAnonymizedIpForVisitEnrichment],
        'userIdPseudonymized' => (bool) $privacy->anonymizeUserId,
        'rawDataDeletion' => ['enabled' => (bool) $purge['delete_logs_enable'], 'olderThanDays' => (int) $purge['delete_logs_older_than']],
        'doNotTrack' => (new \Piwik\Plugins\PrivacyManager\DoNotTrackHeaderChecker())->isActive(),
        'excludedQueryParameters' => array_values(array_filter(explode(',', (string) api('SitesManager.getExcludedQueryParametersGlobal')))),
        'activatedPlugins' => array_values(\Piwik\Plugin\Manager::getInstance()->getActivatedPlugins()),
        'internetFeatures' => \Piwik\SettingsPiwik::isInternetEnabled(),
        'browserArchiving' => \Piwik\ArchiveProcessor\Rules::isBrowserTriggerEnabled(),
        'fingerprintingAcrossSites' => (bool) \Piwik\Config::getInstance()->Tracker['enable_fingerprinting_across_websites'],
        'thirdPartyCookie' => (bool) \Piwik\Config::getInstance()->Tracker['use_third_party_id_cookie'],
        'sites' => $sites,
    ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n";
    exit(0);
}

if ($command === 'token') {
    $hours = (int) ($argv[2] ?? 0);
    if ($hours < 1) fail('usage: token HOURS');
    matomo();
    $model = new \Piwik\Plugins\UsersManager\Model();
    $token = $model->generateRandomTokenAuth();
    $login = getenv('ADMIN_USER') ?: 'admin';
    $model->addTokenAuth($login, $token, 'Socle log importer', \Piwik\Date::now()->getDatetime(), \Piwik\Date::now()->addHour($hours)->getDatetime());
    echo "$token\n";
    exit(0);
}

if ($command === 'authorize-upgrade') {
    $snapshot = $argv[2] ?? '';
    if (!preg_match('/^[0-9a-f]{8,64}$/', $snapshot)) fail('usage: authorize-upgrade SNAPSHOT (a restic snapshot id)');
    $db = connect();
    $version = option($db, 'version_core') ?? fail('no Matomo installation in this database');
    setOption($db, 'socle_upgrade_authorized', json_encode(['from' => $version, 'snapshot' => $snapshot, 'at' => gmdate('c')]));
    echo "authorized: an upgrade from $version, backup $snapshot\n";
    exit(0);
}

if ($command === 'take-upgrade-authorization') {
    $db = connect();
    $record = option($db, 'socle_upgrade_authorized');
    $db->prepare('DELETE FROM ' . PREFIX . 'option WHERE option_name = ?')->execute(['socle_upgrade_authorized']);
    if ($record !== null) { $r = json_decode($record, true); echo "{$r['from']} {$r['snapshot']}\n"; }
    exit(0);
}

if ($command === 'log-imported' || $command === 'mark-log-imported') {
    $day = $argv[2] ?? '';
    if (!preg_match('/^\d{4}-\d{2}-\d{2}$/', $day)) fail("usage: $command YYYY-MM-DD");
    $db = connect();
    if ($command === 'mark-log-imported') { setOption($db, "socle_log_imported_$day", gmdate('c')); exit(0); }
    exit(option($db, "socle_log_imported_$day") === null ? 1 : 0);
}

if ($command === 'audience-data') {
    [$from, $to] = [$argv[2] ?? '', $argv[3] ?? ''];
    if (!preg_match('/^\d{4}-\d{2}-\d{2}$/', $from) || !preg_match('/^\d{4}-\d{2}-\d{2}$/', $to)) fail('usage: audience-data FROM TO (YYYY-MM-DD)');
    $db = connect();
    // Raw data (kept for the retention the city chose): page views per site, day and page, and
    // visits per site and day; no report archive needed, nothing about a visitor leaves.
    $q = $db->prepare('SELECT a.idsite AS site, DATE(a.server_time) AS day, x.name AS page, COUNT(*) AS pageviews, COUNT(DISTINCT a.idvisit) AS visits'
        . ' FROM ' . PREFIX . 'log_link_visit_action a JOIN ' . PREFIX . 'log_action x ON x.idaction = a.idaction_url'
        . ' WHERE a.server_time >= ? AND a.server_time < DATE_ADD(?, INTERVAL 1 DAY) AND x.type = 1'
        . ' GROUP BY a.idsite, DATE(a.server_time), x.name ORDER BY day, page, site');
    $q->execute([$from, $to]);
    $pages = $q->fetchAll(PDO::FETCH_ASSOC);
    $q = $db->prepare('SELECT idsite AS site, DATE(visit_last_action_time) AS day, COUNT(*) AS visits FROM ' . PREFIX . 'log_visit'
        . ' WHERE visit_last_action_time >= ? AND visit_last_action_time < DATE_ADD(?, INTERVAL 1 DAY) GROUP BY idsite, DATE(visit_last_action_time) ORDER BY day, site');
    $q->execute([$from, $to]);
    echo json_encode(['pages' => $pages, 'visits' => $q->fetchAll(PDO::FETCH_ASSOC)], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n";
    exit(0);
}

fail("unknown command \"$command\": wait, state, write-config, install, apply, check, token, authorize-upgrade, take-upgrade-authorization, log-imported, mark-log-imported or audience-data");
