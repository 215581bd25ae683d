<?php
// The PHP adapter's own tests: plain PHP CLI scripts, no PHPUnit, no
// Composer, no network. Run them with adapters/php/test.sh.
//
// How the adapter is driven: each case writes a small app script that
// loads caddy-session.php as an app would and runs it as one request under
// php-cgi (Debian's php-cgi), with the request's headers in the CGI
// environment (HTTP_X_SESSION, ...) as php-fpm gives them. php-cgi writes
// the response as CGI does, status and headers first, so the test reads
// exactly the headers Caddy would read: what header(), header_remove()
// and header_register_callback() really left, after the session was saved
// at the end of the request. (The CLI SAPI sends no headers and its
// headers_list() is empty without xdebug, and the adapter saves at the end
// of the request, after any code the test could run in-process.) PHP's
// error log goes to php-cgi's standard error, which the tests read too.

declare(strict_types=1);

const SECRET = 'a-secret-of-at-least-32-bytes-for-tests!';
const OBJECT_KEY = 'an-object-key-of-at-least-32-bytes-long!';

/** The adapter under test; CADDY_SESSION_ADAPTER_FILE points elsewhere (a deliberately broken copy). */
function adapter_file(): string
{
    return getenv('CADDY_SESSION_ADAPTER_FILE') ?: dirname(__DIR__) . '/caddy-session.php';
}

function b64url(string $s): string
{
    return rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
}

/** A session token as Caddy signs it: HS256 with $secret, claims filled in with a live exp. */
function hs256_token(array $claims, string $secret = SECRET, array $header = ['alg' => 'HS256', 'typ' => 'JWT']): string
{
    $signing = b64url(json_encode($header)) . '.' . b64url(json_encode(claims($claims), JSON_UNESCAPED_SLASHES));
    return $signing . '.' . b64url(hash_hmac('sha256', $signing, $secret, true));
}

/** A session token signed with EdDSA (Ed25519) by the secret key $sk. */
function eddsa_token(array $claims, string $sk, string $kid = 'k1'): string
{
    $signing = b64url(json_encode(['alg' => 'EdDSA', 'typ' => 'JWT', 'kid' => $kid]))
        . '.' . b64url(json_encode(claims($claims), JSON_UNESCAPED_SLASHES));
    return $signing . '.' . b64url(sodium_crypto_sign_detached($signing, $sk));
}

function claims(array $claims): array
{
    $now = time();
    return $claims + ['data' => new stdClass(), 'iat' => $now, 'exp' => $now + 60, 'new' => false,
        'sid' => b64url('sid-of-this-session'), 'expires_at' => $now + 1209600, 'browser_close' => false];
}

/** The PEM SubjectPublicKeyInfo of an Ed25519 public key (RFC 8410), as `openssl pkey -pubout` writes it. */
function ed25519_pem(string $pk): string
{
    return "-----BEGIN PUBLIC KEY-----\n" . base64_encode(hex2bin('302a300506032b6570032100') . $pk) . "\n-----END PUBLIC KEY-----\n";
}

/**
 * Runs $app (PHP code, after the adapter is loaded) as one request under
 * php-cgi with the token $token (none when null) and the environment
 * $env (SESSION_SECRET is SECRET unless given) and php.ini settings $ini. Returns
 * ['status' => int, 'headers' => [[name, value], ...], 'body' => string, 'log' => string].
 */
function request(?string $token, string $app, array $env = [], array $ini = []): array
{
    $dir = sys_get_temp_dir() . '/caddy-session-php-tests-' . getmypid();
    if (!is_dir($dir)) {
        mkdir($dir, 0o700);
        register_shutdown_function(static function () use ($dir): void {
            array_map('unlink', glob("$dir/*") ?: []);
            @rmdir($dir);
        });
    }
    $script = tempnam($dir, 'app-');
    file_put_contents($script, "<?php\ndeclare(strict_types=1);\nrequire " . var_export(adapter_file(), true) . ";\n$app\n");
    $env += ['SESSION_SECRET' => SECRET, 'CADDY_SESSION_PHP_OBJECT_KEY' => OBJECT_KEY];
    $env += [
        'PATH' => '/usr/bin:/bin',
        'GATEWAY_INTERFACE' => 'CGI/1.1',
        'REDIRECT_STATUS' => '200', // php-cgi's force-cgi-redirect
        'REQUEST_METHOD' => 'GET',
        'SCRIPT_FILENAME' => $script,
        'SCRIPT_NAME' => '/' . basename($script),
        'REQUEST_URI' => '/' . basename($script),
        'SERVER_PROTOCOL' => 'HTTP/1.1',
    ];
    if ($token !== null) {
        $env['HTTP_X_SESSION'] = $token;
    }
    $env = array_filter($env, static fn ($v) => $v !== null);
    $cmd = ['php-cgi', '-d', 'log_errors=1', '-d', 'error_log=', '-d', 'html_errors=0'];
    foreach ($ini as $k => $v) {
        array_push($cmd, '-d', "$k=$v");
    }
    $p = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $dir, $env);
    if (!is_resource($p)) {
        throw new RuntimeException('cannot run php-cgi (Debian package php-cgi)');
    }
    $out = stream_get_contents($pipes[1]);
    $log = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $rc = proc_close($p);
    if ($rc === 127) {
        throw new RuntimeException('php-cgi not found (Debian package php-cgi)');
    }
    [$head, $body] = array_pad(preg_split("/\r?\n\r?\n/", $out, 2), 2, '');
    $status = 200;
    $headers = [];
    foreach (preg_split("/\r?\n/", $head) as $line) {
        if ($line === '') {
            continue;
        }
        [$name, $value] = array_map('trim', explode(':', $line, 2) + [1 => '']);
        if (strcasecmp($name, 'Status') === 0) {
            $status = (int) $value;
            continue;
        }
        $headers[] = [$name, $value];
    }
    return ['status' => $status, 'headers' => $headers, 'body' => $body, 'log' => $log];
}

/** The response's session update headers (X-Session-*), in the order sent, as "Name: value" lines. */
function update_headers(array $r, string $base = 'X-Session'): array
{
    $out = [];
    foreach ($r['headers'] as [$name, $value]) {
        if (stripos($name, "$base-") === 0) {
            $out[] = "$name: $value";
        }
    }
    return $out;
}

// A tiny runner: test('name', fn) records; each file ends with run_tests().

$GLOBALS['tests'] = [];
$GLOBALS['failures'] = 0;

function test(string $name, callable $fn): void
{
    $GLOBALS['tests'][$name] = $fn;
}

final class Failure extends Exception
{
}

function check(bool $ok, string $what): void
{
    if (!$ok) {
        throw new Failure($what);
    }
}

function check_same(mixed $want, mixed $got, string $what = ''): void
{
    if ($want !== $got) {
        throw new Failure(($what !== '' ? "$what: " : '') . 'want ' . var_export($want, true) . ', got ' . var_export($got, true));
    }
}

/** A refused request: 401, the app never ran, no update header. */
function check_refused(array $r, string $why): void
{
    check_same(401, $r['status'], "status ($why)");
    check(!str_contains($r['body'], 'APP RAN'), "the app ran ($why)");
    check_same([], update_headers($r), "update headers ($why)");
    check(str_contains($r['log'], 'caddy-session: request refused: '), "no refusal logged ($why): {$r['log']}");
}

function run_tests(): never
{
    $filter = getenv('TEST_RUN') ?: '';
    $ran = 0;
    foreach ($GLOBALS['tests'] as $name => $fn) {
        if ($filter !== '' && !preg_match('/' . str_replace('/', '\/', $filter) . '/', $name)) {
            continue;
        }
        $ran++;
        try {
            $fn();
            echo "ok   $name\n";
        } catch (Failure $e) {
            $GLOBALS['failures']++;
            echo "FAIL $name\n     " . str_replace("\n", "\n     ", $e->getMessage()) . "\n";
        }
    }
    if ($ran === 0) {
        echo "no test ran\n";
        exit(1);
    }
    exit($GLOBALS['failures'] > 0 ? 1 : 0);
}
