<?php
// Issue 19, repro 1: a ~6 KB translation table kept on the first request.
session_start();
$_SESSION['translations'] ??= array_fill(0, 300, str_repeat('t', 17));
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo 'n=', $_SESSION['n'];
