<?php
// Socle's additions to Matomo's dependency-injection configuration (config/config.php): secrets
// come from the container's environment at the moment Matomo connects, so no file in the image,
// the stack or the volume holds them. The reporting side (core/Db.php) and the tracker
// (core/Tracker/Db.php, matomo.php) each ask through their own event.
$databasePassword = \Piwik\DI::value(function (&$dbConfig) {
    $dbConfig['password'] = (string) getenv('DB_PASSWORD');
});
return [
    'observers.global' => \Piwik\DI::add([
        ['Db.getDatabaseConfig', $databasePassword],
        ['Tracker.getDatabaseConfig', $databasePassword],
    ]),
];
