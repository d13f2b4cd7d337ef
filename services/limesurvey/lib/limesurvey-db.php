<?php
// Socle's view of LimeSurvey's database, for the image's entry point (services/limesurvey):
//   wait     until the database answers (at most 120 s)
//   state    "empty", "installed <DBVersion>", or what else is there
//   enforce  the settings LimeSurvey keeps in its database, at every start (see below)
//   purge-attempts HOURS  failed code and login attempts older than that (they hold addresses)
//   purge-ended DAYS [--warn]  what citizens left in each survey that ended more than DAYS days
//                     ago (see below); --warn also names the surveys whose turn comes within 14 days
//   authorize-upgrade SNAPSHOT  records that a backup of the database as it is now was taken
//   take-upgrade-authorization  prints "<DBVersion> <snapshot>" of that record and deletes it
//   import-codes SID  adds the participants of a JSON array on stdin to survey SID's participant
//                     table (codes already there skipped), in one transaction; prints the counts
// Connection from the same environment as config.php; table prefix lime_.
const PREFIX = 'lime_';
/** The uploads volume (services/limesurvey/index.ts): files participants send are under surveys/SID/files. */
const UPLOADS = '/var/www/limesurvey/upload';

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

// The retention of the answers (services.limesurvey.answersKeptDays): DAYS days after a survey's
// end (its expiry date, which npm run survey -- check requires), what citizens left in it is
// deleted: answers and their timings, the codes, saved partial answers, the copies LimeSurvey keeps
// of a deactivated survey's tables, and the files participants uploaded. The survey itself
// (questions, texts) stays. Nothing is deleted in a survey without an end date.
if ($command === 'purge-ended') {
    $days = (int) ($argv[2] ?? 0);
    if ($days < 1) fail('purge-ended needs the days answers are kept after a survey\'s end (SOCLE_ANSWERS_KEPT_DAYS), got "' . ($argv[2] ?? '') . '"');
    $surveys = PREFIX . 'surveys';
    $ended = $db->prepare("SELECT sid, expires FROM $surveys WHERE expires IS NOT NULL AND expires < DATE_SUB(NOW(), INTERVAL ? DAY) ORDER BY sid");
    $ended->execute([$days]);
    foreach ($ended->fetchAll(PDO::FETCH_NUM) as [$sid, $expires]) {
        $sid = (int) $sid;
        $answers = 0;
        $codes = 0;
        foreach ($tables as $t) {
            // SurveyAdministrationController::deactivate: old_survey_SID_DATE, old_survey_SID_timings_DATE, old_tokens_SID_DATE.
            $copy = preg_match('/^' . PREFIX . "old_(survey|tokens)_{$sid}_(timings_)?\\d+\$/", $t) === 1;
            if (!$copy && !in_array($t, [PREFIX . "survey_$sid", PREFIX . "survey_{$sid}_timings", PREFIX . "tokens_$sid"], true)) continue;
            $deleted = $db->exec("DELETE FROM `$t`");
            // Timings rows go with their answers: answers and codes are what the log counts.
            if (str_contains($t, 'tokens_')) $codes += $deleted;
            elseif (!str_ends_with($t, '_timings')) $answers += $deleted;
            // A deactivated survey's copies are of no use to LimeSurvey once emptied, nor their record.
            if ($copy) {
                $db->exec("DROP TABLE `$t`");
                if (in_array(PREFIX . 'archived_table_settings', $tables, true)) {
                    $db->prepare('DELETE FROM ' . PREFIX . 'archived_table_settings WHERE tbl_name = ?')->execute([substr($t, strlen(PREFIX))]);
                }
            }
        }
        $saved = 0;
        if (in_array(PREFIX . 'saved_control', $tables, true)) {
            $partial = $db->prepare('DELETE FROM ' . PREFIX . 'saved_control WHERE sid = ?');
            $partial->execute([$sid]);
            $saved = $partial->rowCount();
        }
        $files = remove_contents(UPLOADS . "/surveys/$sid/files");
        if ($answers + $codes + $saved + $files > 0) {
            fwrite(STDERR, "socle-limesurvey: survey $sid ended $expires, more than $days days ago: deleted $answers answer(s), $codes code(s), $saved saved partial answer(s) and $files uploaded file(s)\n");
        }
    }
    if (in_array('--warn', $argv, true)) {
        $soon = $db->prepare("SELECT sid, expires, DATE(DATE_ADD(expires, INTERVAL ? DAY)) FROM $surveys WHERE expires IS NOT NULL AND expires >= DATE_SUB(NOW(), INTERVAL ? DAY) AND expires < DATE_SUB(NOW(), INTERVAL ? DAY) ORDER BY sid");
        $soon->execute([$days + 1, $days, $days - 14]);
        foreach ($soon->fetchAll(PDO::FETCH_NUM) as [$sid, $expires, $on]) {
            if (!in_array(PREFIX . "survey_$sid", $tables, true)) continue;
            $count = (int) $db->query('SELECT COUNT(*) FROM `' . PREFIX . "survey_$sid`")->fetchColumn();
            if ($count > 0) fwrite(STDERR, "socle-limesurvey: survey $sid ended $expires: its $count answer(s) will be deleted on $on (kept $days days, services.limesurvey.answersKeptDays); export the results before: npm run survey -- results --survey $sid\n");
        }
    }
    exit(0);
}

/** Deletes what is inside $dir (not $dir itself); returns the number of files deleted. */
function remove_contents(string $dir): int {
    if (!is_dir($dir)) return 0;
    $files = 0;
    $entries = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($dir, FilesystemIterator::SKIP_DOTS), RecursiveIteratorIterator::CHILD_FIRST);
    foreach ($entries as $entry) {
        if ($entry->isDir() && !$entry->isLink()) { rmdir($entry->getPathname()); continue; }
        unlink($entry->getPathname());
        $files++;
    }
    return $files;
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

fail("unknown command \"$command\": wait, state, enforce, purge-attempts HOURS, purge-ended DAYS [--warn], authorize-upgrade SNAPSHOT, take-upgrade-authorization or import-codes SID");
