<?php
// What PHP apps keep besides JSON: objects, dates, binary strings inside
// objects, integer keys, an array whose one key looks like a tag. The page
// prints the session as PHP sees it; natively and behind Caddy alike.
final class Cart
{
    public array $items = [];
    public ?string $token = null;
    protected int $count = 0;
    private string $secret = '';

    public function add(string $item): void
    {
        $this->items[] = $item;
        $this->count++;
        $this->secret = "\x00\xff" . $item;
    }
}
session_start();
if (!isset($_SESSION['cart'])) {
    $_SESSION['cart'] = new Cart();
    $_SESSION['cart']->token = "\xc3\x28 not utf-8";
    $_SESSION['when'] = new DateTimeImmutable('2026-12-05T08:00:00.123456+01:00');
    $_SESSION['mutable'] = new DateTime('2026-12-05 08:00:00', new DateTimeZone('Europe/Paris'));
    $_SESSION['ints'] = [3 => 'three', 10 => 'ten'];
    $_SESSION['tagged'] = [' b' => 'not base64, a key'];
    $_SESSION['nested'] = ['a' => ['b' => "\xfe"], 'list' => [1, 2.5, true, null]];
}
$_SESSION['cart']->add('item' . (count($_SESSION['cart']->items) + 1));
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$out = $_SESSION;
ksort($out); // the store keeps no key order
$out['when'] = $out['when']->format('Y-m-d\TH:i:s.uP') . ' ' . get_class($out['when']);
$out['mutable'] = $out['mutable']->format('Y-m-d\TH:i:sP e') . ' ' . get_class($out['mutable']);
echo bin2hex(serialize($out)), "\n", var_export($out, true);
