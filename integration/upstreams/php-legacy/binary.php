<?php
// Issue 19, repro 2: binary strings (an encrypted password, a random key).
session_start();
$_SESSION['pwds'] ??= ['k' => [random_bytes(16)]];
$_SESSION['key'] ??= "\xff\xfe" . random_bytes(30);
$_SESSION['first'] ??= bin2hex($_SESSION['pwds']['k'][0] . $_SESSION['key']);
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo 'n=', $_SESSION['n'], ' same=',
    var_export(bin2hex($_SESSION['pwds']['k'][0] . $_SESSION['key']) === $_SESSION['first'], true);
