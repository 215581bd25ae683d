<?php
// Issue 19, repro 3: the page is rendered by a shutdown function that
// ends with exit, with the app's own error handler installed.
set_error_handler(static fn (): bool => true);
register_shutdown_function(function () {
    echo 'n=', $_SESSION['n'];
    exit;
});
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
