<?php
// Socle's additions to Matomo's dependency-injection configuration (config/config.php): secrets
// come from the container's environment at the moment Matomo connects, so no file in the image,
// the stack or the volume holds them.
return [
    'observers.global' => \Piwik\DI::add([
        ['Db.getDatabaseConfig', \Piwik\DI::value(function (&$dbConfig) {
            $dbConfig['password'] = (string) getenv('DB_PASSWORD');
        })],
    ]),
];
