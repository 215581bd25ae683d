<?php
// Issue 19, repro 4: a write in a destructor, which PHP runs before it
// saves the session.
final class Counter
{
    public function __destruct()
    {
        $_SESSION['d'] = ($_SESSION['d'] ?? 0) + 1;
    }
}
session_start();
echo 'd=', ($_SESSION['d'] ?? 0) + 1;
$counter = new Counter();
