<?php
// A class with gadgets: object injection would run them.
final class Gadget
{
    public string $cmd = '';

    public function __wakeup(): void
    {
        error_log('GADGET WAKEUP ' . $this->cmd);
    }

    public function __destruct()
    {
        error_log('GADGET DESTRUCT ' . $this->cmd);
    }
}
session_start();
echo 'evil=', isset($_SESSION['evil']) ? get_debug_type($_SESSION['evil']) : 'absent';
