<?php
// A change made after the response's first byte left: natively kept,
// behind Caddy it cannot be sent, and PHP's error log says so even though
// the app hides every error.
set_error_handler(static fn (): bool => true);
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo 'n=', $_SESSION['n'];
while (ob_get_level() > 0) {
    ob_end_flush();
}
flush();
$_SESSION['late'] = ($_SESSION['late'] ?? 0) + 1;
