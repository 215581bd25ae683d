<?php
// The update headers each session API call produces, exactly: only what
// the request changed, under the native call's Django meaning
// (docs/adapters.md, PHP), and no PHPSESSID cookie.

declare(strict_types=1);

require __DIR__ . '/lib.php';

/** Runs $app on a session holding $data and checks the exact update headers of the response. */
function check_updates(array $data, string $app, array $want, array $ini = []): array
{
    $r = request(hs256_token(['data' => $data === [] ? new stdClass() : $data]), $app, [], $ini);
    check_same(200, $r['status'], "status (log: {$r['log']})");
    check_same($want, update_headers($r), 'update headers');
    foreach ($r['headers'] as [$name, $value]) {
        check(strcasecmp($name, 'Set-Cookie') !== 0 || !str_starts_with($value, 'PHPSESSID='), "PHP's own cookie was sent: $value");
    }
    return $r;
}

test('reading only: no update header', function (): void {
    check_updates(['a' => 'x', 'n' => 1], "session_start(); \$x = \$_SESSION['a'] . \$_SESSION['n'];", []);
});

test('set: only the new or changed keys; floats keep their fraction, non-ASCII as \\u escapes', function (): void {
    check_updates(['a' => 'x', 'n' => 1],
        "session_start(); \$_SESSION['a'] = 'x'; \$_SESSION['n'] = 2; \$_SESSION['new'] = ['l' => [1, 2.0, null, true], 'é' => 'ü'];",
        ['X-Session-Set: {"n":2,"new":{"l":[1,2.0,null,true],"\\u00e9":"\\u00fc"}}']);
});

test('unset: X-Session-Delete', function (): void {
    check_updates(['a' => 'x', 'b' => 'y'], "session_start(); unset(\$_SESSION['a']);", ['X-Session-Delete: ["a"]']);
});

test('session_unset and $_SESSION = []: every key the request saw is deleted', function (): void {
    check_updates(['a' => 'x', 'b' => 'y'], 'session_start(); session_unset();', ['X-Session-Delete: ["a","b"]']);
    check_updates(['a' => 'x', 'b' => 'y'], 'session_start(); $_SESSION = [];', ['X-Session-Delete: ["a","b"]']);
});

test('set and unset together', function (): void {
    check_updates(['a' => 'x', 'b' => 'y'], "session_start(); unset(\$_SESSION['a']); \$_SESSION['b'] = 'z';",
        ['X-Session-Delete: ["a"]', 'X-Session-Set: {"b":"z"}']);
});

test('session_destroy: X-Session-Flush alone', function (): void {
    check_updates(['user' => 'ada'], 'session_start(); session_destroy();', ['X-Session-Flush: 1']);
});

test('session_destroy, then a new session in the same request: flush and set', function (): void {
    check_updates(['user' => 'ada'], "session_start(); session_destroy(); session_start(); \$_SESSION['msg'] = 'bye';",
        ['X-Session-Flush: 1', 'X-Session-Set: {"msg":"bye"}']);
});

test('session_regenerate_id(true): X-Session-Cycle-Key, the data kept', function (): void {
    check_updates(['user' => 'ada'], 'session_start(); session_regenerate_id(true);', ['X-Session-Cycle-Key: 1']);
});

test('session_regenerate_id() without delete: a cycle too', function (): void {
    check_updates(['user' => 'ada'], 'session_start(); session_regenerate_id();', ['X-Session-Cycle-Key: 1']);
});

test('login: regenerate and set', function (): void {
    check_updates([], "session_start(); session_regenerate_id(true); \$_SESSION['user'] = 'ada';",
        ['X-Session-Set: {"user":"ada"}', 'X-Session-Cycle-Key: 1']);
});

test('cookie lifetime: X-Session-Expiry', function (): void {
    check_updates(['user' => 'ada'], "session_set_cookie_params(['lifetime' => 3600]); session_start();", ['X-Session-Expiry: 3600']);
    // 0: until the browser closes, from a php.ini that gave the cookie a lifetime.
    check_updates(['user' => 'ada'], "ini_set('session.cookie_lifetime', '0'); session_start();", ['X-Session-Expiry: 0'],
        ['session.cookie_lifetime' => '1209600']);
    // The lifetime the request started with is Caddy's default: no header.
    check_updates(['user' => 'ada'], "ini_set('session.cookie_lifetime', '1209600'); session_start();", [],
        ['session.cookie_lifetime' => '1209600']);
});

test('session_write_close saves at once; a later change is not sent', function (): void {
    $r = check_updates([], "session_start(); \$_SESSION['a'] = 1; session_write_close(); \$_SESSION['b'] = 2; echo 'done';",
        ['X-Session-Set: {"a":1}']);
    check_same('done', $r['body'], 'body');
});

test('session_abort: nothing is sent', function (): void {
    check_updates([], "session_start(); \$_SESSION['a'] = 1; session_abort();", []);
});

test('session_reset: back to the data as read; read_and_close: nothing sent', function (): void {
    check_updates(['a' => 'x'], "session_start(); \$_SESSION['a'] = 'y'; \$_SESSION['b'] = 1; session_reset();", []);
    check_updates(['a' => 'x'], "session_start(); \$_SESSION['a'] = 'y'; session_write_close(); session_start(); \$_SESSION['b'] = 1; session_reset();",
        ['X-Session-Set: {"a":"y"}']);
    check_updates(['a' => 'x'], "session_start(['read_and_close' => true]); \$_SESSION['a'] = 'y';", []);
});

test('a change in a shutdown function is sent', function (): void {
    check_updates([], "session_start(); register_shutdown_function(function () { \$_SESSION['late'] = 1; }); echo 'page';",
        ['X-Session-Set: {"late":1}']);
});

test("the manual's logout (session_destroy and setcookie of PHPSESSID): only the flush, no PHPSESSID cookie; other cookies kept", function (): void {
    $r = check_updates(['user' => 'ada'], <<<'PHP'
        session_start();
        setcookie('theme', 'dark');
        $_SESSION = [];
        setcookie(session_name(), '', time() - 42000, '/');
        session_destroy();
        PHP, ['X-Session-Flush: 1']);
    $cookies = array_values(array_filter($r['headers'], static fn ($h) => strcasecmp($h[0], 'Set-Cookie') === 0));
    check_same([['Set-Cookie', 'theme=dark']], $cookies, 'cookies');
});

test('a change made after the response started is logged as lost, naming the header', function (): void {
    $r = check_updates([], "session_start(); \$_SESSION['a'] = 1; echo 'page'; while (ob_get_level()) { ob_end_flush(); } flush(); \$_SESSION['b'] = 2;",
        ['X-Session-Set: {"a":1}']);
    check(str_contains($r['log'], 'the session changes made since (Set) cannot be sent to Caddy and are LOST'), "log: {$r['log']}");
});

test('session_id() is the token sid in hex', function (): void {
    $r = check_updates([], 'session_start(); echo session_id();', []);
    check_same(bin2hex('sid-of-this-session'), $r['body'], 'session_id()');
});

test('CADDY_SESSION_HEADER: the token and the updates under another base name', function (): void {
    $token = hs256_token(['data' => ['a' => 1]]);
    $r = request(null, "session_start(); \$_SESSION['a'] = 2;", ['CADDY_SESSION_HEADER' => 'X-Sess', 'HTTP_X_SESS' => $token]);
    check_same(200, $r['status'], 'status');
    check_same(['X-Sess-Set: {"a":2}'], update_headers($r, 'X-Sess'), 'update headers');
});

run_tests();
