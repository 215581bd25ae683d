<?php
// Values that are not JSON (docs/adapters.md, "Values that are not JSON"):
// the exact tags the adapter writes, what it reads back from each tag, and
// a value no convention covers failing the save, naming its key.

declare(strict_types=1);

require __DIR__ . '/lib.php';

/** Sets $_SESSION['k'] to the PHP expression $expr on an empty session; the response. */
function set_value(string $expr, string $prelude = ''): array
{
    return request(hs256_token(['data' => new stdClass()]), "$prelude\nsession_start();\n\$_SESSION['k'] = $expr;");
}

function check_set(string $expr, string $wantJson, string $prelude = ''): void
{
    $r = set_value($expr, $prelude);
    check_same(200, $r['status'], "status (log: {$r['log']})");
    check_same(['X-Session-Set: {"k":' . $wantJson . '}'], update_headers($r), "update headers for $expr");
}

const POINT = 'final class Point { public function __construct(public int $x = 0, public string $label = "") {} }';

test('writes: a binary string as " b"', function (): void {
    check_set('"\xff\x00\x01"', '{" b":"/wAB"}');
    check_set('["raw" => "\x80"]', '{"raw":{" b":"gA=="}}');
    check_set('"plain UTF-8 é"', '"plain UTF-8 \u00e9"');
});

test('writes: a DateTimeImmutable as " tm", to the microsecond with its offset', function (): void {
    check_set("new DateTimeImmutable('2026-12-05T08:00:00.123456+01:00')", '{" tm":"2026-12-05T08:00:00.123456000+01:00"}');
});

test('writes: any other object as " php" with the HMAC under the object key', function (): void {
    // The serialized form the adapter must sign: the app's class, as PHP's serialize() writes it.
    $ser = 'O:5:"Point":2:{s:1:"x";i:3;s:5:"label";s:1:"p";}';
    $want = json_encode([' php' => ['c' => 'Point', 's' => $ser, 'h' => hash_hmac('sha256', "Point\n$ser", OBJECT_KEY)]], JSON_UNESCAPED_SLASHES);
    check_set('new Point(3, "p")', $want, POINT);
    $dt = 'O:8:"DateTime":3:{s:4:"date";s:26:"2026-12-05 08:00:00.000000";s:13:"timezone_type";i:3;s:8:"timezone";s:3:"UTC";}';
    $want = json_encode([' php' => ['c' => 'DateTime', 's' => $dt, 'h' => hash_hmac('sha256', "DateTime\n$dt", OBJECT_KEY)]], JSON_UNESCAPED_SLASHES);
    check_set("new DateTime('2026-12-05 08:00:00', new DateTimeZone('UTC'))", $want);
});

test('writes: an array whose one key is a tag is escaped with " di"', function (): void {
    check_set("[' t' => 1]", '{" di":{" t__":1}}');
    check_set("[' b' => 'AAAA']", '{" di":{" b__":"AAAA"}}');
    check_set("[' php' => ['c' => 'X']]", '{" di":{" php__":{"c":"X"}}}');
    // Two keys, or a key that is no tag: plain objects.
    check_set("[' t' => 1, 'u' => 2]", '{" t":1,"u":2}');
    check_set("[' x' => 1]", '{" x":1}');
});

/** Runs $app on a session holding $data (the convention's JSON) and returns the body. */
function read_values(array $data, string $app, string $prelude = ''): array
{
    $r = request(hs256_token(['data' => $data]), "$prelude\nsession_start();\n$app");
    check_same(200, $r['status'], "status (log: {$r['log']})");
    return $r;
}

test('reads: every tag as its PHP type; an unchanged value is never sent back', function (): void {
    $data = [
        'b' => [' b' => base64_encode("\xff\x00")],
        't' => [' t' => [1, 'a']],
        'u' => [' u' => '9f0c3c1e-4d2a-4b7e-8f00-0123456789ab'],
        'm' => [' m' => '<b>x</b>'],
        'sym' => [' sym' => 'admin'],
        'd' => [' d' => 'Wed, 21 Oct 2015 07:28:00 GMT'],
        'tm' => [' tm' => '2026-12-05T08:00:00.123456789+01:00'],
        'di' => [' di' => [' t__' => 1]],
        'bad' => [' b' => '***'],
        'unknown' => [' zz' => 1],
    ];
    $r = read_values($data, <<<'PHP'
        $s = $_SESSION;
        echo json_encode([
            'b' => bin2hex($s['b']), 't' => $s['t'], 'u' => $s['u'], 'm' => $s['m'], 'sym' => $s['sym'],
            'd' => [get_class($s['d']), $s['d']->format('Y-m-d\TH:i:s.uP')],
            'tm' => [get_class($s['tm']), $s['tm']->format('Y-m-d\TH:i:s.uP')],
            'di' => $s['di'], 'bad' => $s['bad'], 'unknown' => $s['unknown'],
        ]);
        PHP);
    check_same(json_encode([
        'b' => 'ff00', 't' => [1, 'a'], 'u' => '9f0c3c1e-4d2a-4b7e-8f00-0123456789ab', 'm' => '<b>x</b>', 'sym' => 'admin',
        'd' => ['DateTimeImmutable', '2015-10-21T07:28:00.000000+00:00'],
        'tm' => ['DateTimeImmutable', '2026-12-05T08:00:00.123456+01:00'],
        'di' => [' t' => 1], 'bad' => [' b' => '***'], 'unknown' => [' zz' => 1],
    ]), $r['body'], 'values read');
    check_same([], update_headers($r), 'update headers after reading only');
});

test('reads: a " php" object with a valid HMAC as the object; a forged one refused, logged, never unserialized', function (): void {
    $ser = 'O:5:"Point":2:{s:1:"x";i:3;s:5:"label";s:1:"p";}';
    $good = [' php' => ['c' => 'Point', 's' => $ser, 'h' => hash_hmac('sha256', "Point\n$ser", OBJECT_KEY)]];
    $forged = [' php' => ['c' => 'Point', 's' => $ser, 'h' => hash_hmac('sha256', "Point\n$ser", str_repeat('k', 40))]];
    $r = read_values(['good' => $good, 'forged' => $forged],
        "echo get_class(\$_SESSION['good']), ' ', \$_SESSION['good']->x, ' ', var_export(isset(\$_SESSION['forged']), true);", POINT);
    check_same('Point 3 false', $r['body'], 'objects read');
    check(str_contains($r['log'], "\$_SESSION['forged'] refused"), "the forged object was not logged: {$r['log']}");
    check_same([], update_headers($r), 'update headers: the refused key is neither deleted nor rewritten');
});

test('round trip: what the adapter writes it reads back as the same PHP value', function (): void {
    $r = set_value("[\"\\xff\", new DateTimeImmutable('2026-01-02T03:04:05.5-07:00'), new Point(1, 'a'), [' t' => [' b' => 'x']]]", POINT);
    $set = update_headers($r)[0] ?? '';
    $data = json_decode(substr($set, strlen('X-Session-Set: ')), true);
    $r = read_values($data, "var_export(\$_SESSION['k'] == [\"\\xff\", new DateTimeImmutable('2026-01-02T03:04:05.5-07:00'), new Point(1, 'a'), [' t' => [' b' => 'x']]]);", POINT);
    check_same('true', $r['body'], "read back from $set");
});

test('a value no convention covers fails the save, naming the key: 500 and no update header', function (): void {
    foreach ([
        'fn () => 1' => "\$_SESSION['k'] cannot be stored (an object of class Closure",
        'NAN' => "\$_SESSION['k'] cannot be stored (NAN)",
        'INF' => "\$_SESSION['k'] cannot be stored (INF)",
        "fopen('php://memory', 'r')" => "\$_SESSION['k'] cannot be stored (a resource",
        'new ArrayObject([new DateTime()])' => "\$_SESSION['k'] cannot be stored (an object of class ArrayObject holds an object of class DateTime",
    ] as $expr => $want) {
        $r = request(hs256_token(['data' => ['a' => 1]]), "session_start(); \$_SESSION['ok'] = 1; \$_SESSION['k'] = $expr;");
        check_same(500, $r['status'], "status for $expr");
        check_same([], update_headers($r), "update headers for $expr");
        check(str_contains($r['log'], $want), "log for $expr: want \"$want\", got: {$r['log']}");
    }
});

test('session_write_close with an unstorable value throws UnstorableValue naming the key', function (): void {
    $r = request(hs256_token(['data' => new stdClass()]), <<<'PHP'
        session_start();
        $_SESSION['when'] = NAN;
        try {
            session_write_close();
        } catch (CaddySession\UnstorableValue $e) {
            echo 'caught: ', $e->getMessage();
        }
        PHP);
    check_same(500, $r['status'], 'status');
    check_same([], update_headers($r), 'update headers');
    check_same("caught: caddy-session: \$_SESSION['when'] cannot be stored (NAN); the session was not saved", $r['body'], 'body');
});

test('session_write_close with a closure: PHP\'s own serializer throws first; still 500 and nothing sent', function (): void {
    $r = request(hs256_token(['data' => new stdClass()]), <<<'PHP'
        session_start();
        $_SESSION['when'] = fn () => 1;
        try {
            session_write_close();
        } catch (Exception $e) {
            echo 'caught: ', $e->getMessage();
        }
        PHP);
    check_same(500, $r['status'], 'status');
    check_same([], update_headers($r), 'update headers');
    check_same("caught: Serialization of 'Closure' is not allowed", $r['body'], 'body');
    check(str_contains($r['log'], "\$_SESSION['when'] cannot be stored (an object of class Closure"), "log: {$r['log']}");
});

run_tests();
