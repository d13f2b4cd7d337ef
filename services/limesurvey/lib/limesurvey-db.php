<?php
// Socle's view of LimeSurvey's database, for the image's entry point (services/limesurvey):
//   wait     until the database answers (at most 120 s)
//   state    "empty", "installed <DBVersion>", or what else is there
//   enforce  the settings LimeSurvey keeps in its database, at every start (see below)
//   purge-attempts HOURS  failed code and login attempts older than that (they hold addresses)
//   authorize-upgrade SNAPSHOT  records that a backup of the database as it is now was taken
//   take-upgrade-authorization  prints "<DBVersion> <snapshot>" of that record and deletes it
//   import-codes SID  adds the participants of a JSON array on stdin to survey SID's participant
//                     table (codes already there skipped), in one transaction; prints the counts
// Connection from the same environment as config.php; table prefix lime_.
const PREFIX = 'lime_';

function connect(): PDO {
    $dsn = sprintf('mysql:host=%s;port=%s;dbname=%s;charset=utf8mb4', getenv('DB_HOST'), getenv('DB_PORT') ?: '3306', getenv('DB_NAME'));
    return new PDO($dsn, getenv('DB_USERNAME'), getenv('DB_PASSWORD'), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 3]);
}

function fail(string $message): never {
    fwrite(STDERR, "socle-limesurvey: $message\n");
    exit(1);
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

$db = connect();
$tables = $db->query('SHOW TABLES')->fetchAll(PDO::FETCH_COLUMN);
if ($command === 'state') {
    if (count($tables) === 0) { echo "empty\n"; exit(0); }
    if (!in_array(PREFIX . 'settings_global', $tables, true)) { echo 'foreign: ' . count($tables) . " tables, none of LimeSurvey's\n"; exit(0); }
    $version = $db->query("SELECT stg_value FROM " . PREFIX . "settings_global WHERE stg_name = 'DBVersion'")->fetchColumn();
    echo $version === false ? "foreign: LimeSurvey tables without a DBVersion\n" : "installed $version\n";
    exit(0);
}

if ($command === 'purge-attempts') {
    // LimeSurvey keeps each wrong code with the address it came from, even in an anonymous survey;
    // its lock-out needs minutes of history, not more.
    $hours = (int) ($argv[2] ?? 24);
    $purged = $db->prepare('DELETE FROM ' . PREFIX . 'failed_login_attempts WHERE last_attempt < DATE_SUB(NOW(), INTERVAL ? HOUR)');
    $purged->execute([$hours]);
    if ($purged->rowCount() > 0) fwrite(STDERR, "socle-limesurvey: purged {$purged->rowCount()} failed attempt(s) older than $hours h\n");
    exit(0);
}

// The deploy's upgrade gate (scripts/lib/upgrade-gate.ts): the running, old image records the
// backup the deploy just took, with the database version it holds; the new image migrates only a
// database still at that version, once (the record is taken before updatedb runs). A restore of
// that backup brings no record back: it was written after the backup.
const UPGRADE_SETTING = 'socle_upgrade_authorized';
if ($command === 'authorize-upgrade') {
    $snapshot = $argv[2] ?? '';
    if (!preg_match('/^[0-9a-f]{8,64}$/', $snapshot)) fail("authorize-upgrade needs the backup snapshot's id, got \"$snapshot\"");
    $version = $db->query("SELECT stg_value FROM " . PREFIX . "settings_global WHERE stg_name = 'DBVersion'")->fetchColumn();
    if ($version === false) fail('no LimeSurvey installation in this database: nothing to upgrade');
    $db->prepare("REPLACE INTO " . PREFIX . "settings_global (stg_name, stg_value) VALUES (?, ?)")->execute([UPGRADE_SETTING, "$version $snapshot"]);
    fwrite(STDERR, "socle-limesurvey: upgrade from database version $version allowed, backup $snapshot\n");
    exit(0);
}
if ($command === 'take-upgrade-authorization') {
    $record = $db->prepare("SELECT stg_value FROM " . PREFIX . "settings_global WHERE stg_name = ?");
    $record->execute([UPGRADE_SETTING]);
    $value = $record->fetchColumn();
    $db->prepare("DELETE FROM " . PREFIX . "settings_global WHERE stg_name = ?")->execute([UPGRADE_SETTING]);
    echo $value === false ? "\n" : "$value\n";
    exit(0);
}

// npm run survey -- import-codes with --config: LimeSurvey's add_participants saves one model per
// code (about 170 codes/s on 2 cores); the print room's 84,000 codes go in as multi-row INSERTs
// instead. The codes were checked by npm run survey (alphabet, check character, duplicates).
if ($command === 'import-codes') {
    $sid = (int) ($argv[2] ?? 0);
    $table = PREFIX . "tokens_$sid";
    if ($sid <= 0 || !in_array($table, $tables, true)) fail("survey $sid has no participant table: create it first (npm run survey -- import-codes does, through RemoteControl)");
    $rows = json_decode(stream_get_contents(STDIN), true);
    if (!is_array($rows)) fail('import-codes expects a JSON array of participants on standard input');
    $present = array_flip($db->query("SELECT token FROM $table")->fetchAll(PDO::FETCH_COLUMN));
    $missing = [];
    foreach ($rows as $r) {
        $token = (string) ($r['token'] ?? '');
        if (!preg_match('/^[0-9A-Z]{4,36}$/', $token)) fail("not a code: \"$token\"");
        if (!isset($present[$token])) { $missing[] = $r; $present[$token] = true; }
    }
    $columns = ['token', 'firstname', 'lastname', 'emailstatus', 'language', 'validfrom', 'validuntil', 'sent', 'remindersent', 'remindercount', 'completed', 'usesleft'];
    $db->beginTransaction();
    foreach (array_chunk($missing, 1000) as $chunk) {
        $values = [];
        foreach ($chunk as $r) {
            array_push($values, $r['token'], '', '', 'OK', $r['language'] ?? '', ($r['validfrom'] ?? '') ?: null, ($r['validuntil'] ?? '') ?: null,
                $r['sent'] ?? 'N', $r['remindersent'] ?? 'N', (int) ($r['remindercount'] ?? 0), $r['completed'] ?? 'N', (int) ($r['usesleft'] ?? 1));
        }
        $row = '(' . implode(',', array_fill(0, count($columns), '?')) . ')';
        $db->prepare("INSERT INTO $table (" . implode(',', $columns) . ') VALUES ' . implode(',', array_fill(0, count($chunk), $row)))->execute($values);
    }
    $db->commit();
    echo json_encode(['added' => count($missing), 'present' => count($rows) - count($missing)]) . "\n";
    exit(0);
}

if ($command === 'enforce') {
    $settings = PREFIX . 'settings_global';
    // Mail settings saved once in the administration would silently win over config.php (the
    // city's relay): the database copies are removed, so config.php is what applies.
    $mail = ['emailmethod', 'emailsmtphost', 'emailsmtpuser', 'emailsmtppassword', 'emailsmtpssl', 'emailsmtpdebug', 'siteadminemail', 'siteadminbounce', 'siteadminname'];
    $db->prepare("DELETE FROM $settings WHERE stg_name IN (" . implode(',', array_fill(0, count($mail), '?')) . ')')->execute($mail);
    // RemoteControl (JSON-RPC) on, for npm run survey; the proxy refuses its path from outside.
    $db->prepare("REPLACE INTO $settings (stg_name, stg_value) VALUES ('RPCInterface', 'json')")->execute();
    // Plugins that contact LimeSurvey's servers, whatever config.php says.
    $plugins = PREFIX . 'plugins';
    $db->prepare("UPDATE $plugins SET active = 0 WHERE name IN ('UpdateCheck', 'ComfortUpdateChecker')")->execute();
    // Socle's own: a code is accepted as printed or as typed (dashes, spaces, lower case).
    $found = $db->prepare("SELECT id FROM $plugins WHERE name = 'SocleInvitationCodes'");
    $found->execute();
    if ($found->fetchColumn() === false) {
        $db->prepare("INSERT INTO $plugins (name, plugin_type, active, priority, version, load_error) VALUES ('SocleInvitationCodes', 'user', 1, 0, '1.0.0', 0)")->execute();
    } else {
        $db->prepare("UPDATE $plugins SET active = 1, load_error = 0 WHERE name = 'SocleInvitationCodes'")->execute();
    }
    fwrite(STDERR, "socle-limesurvey: settings enforced (mail from config.php, RemoteControl json, update checks off, invitation codes as typed)\n");
    exit(0);
}

fail("unknown command \"$command\": wait, state, enforce, purge-attempts HOURS, authorize-upgrade SNAPSHOT, take-upgrade-authorization or import-codes SID");
