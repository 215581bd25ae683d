<?php
// What another upstream wrote in the value convention, as PHP reads it.
session_start();
$out = [];
foreach ($_SESSION as $k => $v) {
    $out[$k] = $v instanceof DateTimeInterface
        ? get_class($v) . ' ' . $v->format('Y-m-d\TH:i:s.uP')
        : (is_string($v) && !preg_match('//u', $v) ? 'binary ' . bin2hex($v) : $v);
}
ksort($out);
echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
