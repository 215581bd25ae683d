<?php
// 64 KiB in the session, as a PHP app behind php_fastcgi may keep.
session_start();
$_SESSION['big'] ??= str_repeat('b', 64 * 1024 - 32);
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo 'n=', $_SESSION['n'], ' big=', strlen($_SESSION['big']);
