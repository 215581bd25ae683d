<?php
// Reference upstream for caddy-session: PHP 8.2 under php-fpm.
//
// Caddy's `session` handler sits in front of this app. On every request it
// sends the session as one signed header, `X-Session: <JWT>` (HS256, keyed
// with the same secret Caddy has), and it reads the app's changes back from
// response headers such as `X-Session-Set: {"visits": 3}`. The app never
// touches a cookie, a session store or PHP's own session_start().
//
// Caddyfile:
//     session { secret {env.SESSION_SECRET} }
//     root * /path/to/this/directory
//     php_fastcgi 127.0.0.1:9000      # unknown paths fall through to index.php
// php-fpm pool: pass the secret with  env[SESSION_SECRET] = ...
//
// Settings (environment); the algorithm is pinned by which key is given:
//   SESSION_SECRET      HS256 (Caddy's default)
//   SESSION_JWKS_URL    EdDSA (Caddy's token_alg EdDSA), verified with PHP's
//                       sodium against the JWKS at Caddy's jwks_path; the set
//                       is cached in a file for 5 minutes and fetched again
//                       when a token's kid is not in it (rotation)
//   SESSION_PUBLIC_KEY  EdDSA with one PEM public key instead of the JWKS
//                       (a pool value is one line: write its line breaks as \n)
//   SESSION_AUDIENCE    when set, a token whose aud is not this is refused
//
// Routes (the same in the Python and Node examples):
//   GET  /                 count visits; answer JSON {visits, user, new}
//   POST /login            user=<name> -> log in; new session key; 302 to /
//   POST /logout           end the session (flush); 302 to /
//   POST /expiry?seconds=N set_expiry(N); 0 means "until the browser closes"
//   POST /set              body (a JSON object) is stored as-is
//   GET  /token            the verified token's payload, byte for byte
// Without a valid token every route answers 401.

declare(strict_types=1);

// The usual way to verify the token in PHP is firebase/php-jwt:
//     composer require firebase/php-jwt
//     $claims = Firebase\JWT\JWT::decode($token, new Firebase\JWT\Key($secret, 'HS256'));
// Composer's registry cannot be reached from this project's machines, so this
// example verifies HS256 itself: an HMAC-SHA256 of "<header>.<payload>"
// compared in constant time with hash_equals, the algorithm pinned to HS256
// (never trust the token's own choice, "none" least of all), and exp checked.

function b64url_decode(string $s): string|false
{
    if (!preg_match('/\A[A-Za-z0-9_-]*\z/', $s)) {
        return false;
    }
    return base64_decode(strtr($s, '-_', '+/'), true);
}

// EdDSA (Ed25519) tokens are verified with sodium_crypto_sign_verify_detached,
// which php-cli and php-fpm ship with (ext-sodium); the key comes from
// Caddy's JWKS or a PEM public key. firebase/php-jwt would do the same with
// JWT::decode($token, new Key($publicKey, 'EdDSA')).

/** The raw 32-byte Ed25519 key of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), or null. */
function ed25519_from_pem(string $pem): ?string
{
    $pem = str_replace('\n', "\n", $pem);
    if (!preg_match('/-----BEGIN PUBLIC KEY-----(.+)-----END PUBLIC KEY-----/s', $pem, $m)) {
        return null;
    }
    $der = base64_decode(preg_replace('/\s+/', '', $m[1]), true);
    // The fixed DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
    $prefix = hex2bin('302a300506032b6570032100');
    if ($der === false || strlen($der) !== 44 || !str_starts_with($der, $prefix)) {
        return null;
    }
    return substr($der, 12);
}

/**
 * The Ed25519 keys of the JWKS at $url by kid, from a cache file younger
 * than 5 minutes unless $refresh; [] when it cannot be fetched.
 */
function jwks_keys(string $url, bool $refresh): array
{
    $dir = sys_get_temp_dir();
    $cache = $dir . '/caddy-session-jwks-' . hash('sha256', $url) . '.json';
    $text = false;
    // The temporary directory is shared: only a cache file this user wrote
    // and nobody else can change is trusted (another user's would hold
    // keys of their choosing).
    clearstatcache();
    if (!$refresh && function_exists('posix_geteuid') && is_file($cache) && !is_link($cache)
        && fileowner($cache) === posix_geteuid() && (fileperms($cache) & 0o022) === 0
        && time() - (int) filemtime($cache) < 300) {
        $text = file_get_contents($cache);
    }
    if ($text === false) {
        $ctx = stream_context_create(['http' => ['timeout' => 5]]);
        $text = @file_get_contents($url, false, $ctx);
        if ($text === false) {
            error_log("php-upstream: cannot fetch the JWKS at $url");
            return [];
        }
        $tmp = tempnam($dir, 'caddy-session-jwks-'); // mode 0600
        if ($tmp !== false && file_put_contents($tmp, $text) !== false && !@rename($tmp, $cache)) {
            @unlink($tmp);
        }
    }
    $keys = [];
    $set = json_decode($text, true);
    foreach (is_array($set['keys'] ?? null) ? $set['keys'] : [] as $k) {
        if (is_array($k) && ($k['kty'] ?? '') === 'OKP' && ($k['crv'] ?? '') === 'Ed25519' && is_string($k['kid'] ?? null)) {
            $x = b64url_decode((string) ($k['x'] ?? ''));
            if ($x !== false && strlen($x) === SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES) {
                $keys[$k['kid']] = $x;
            }
        }
    }
    return $keys;
}

/** The public key for a token's kid, fetching the JWKS again once when the kid is unknown. */
function eddsa_key(array $header): ?string
{
    $pem = (string) getenv('SESSION_PUBLIC_KEY');
    if ($pem !== '') {
        return ed25519_from_pem($pem);
    }
    $kid = $header['kid'] ?? null;
    if (!is_string($kid)) {
        return null;
    }
    $url = (string) getenv('SESSION_JWKS_URL');
    return jwks_keys($url, false)[$kid] ?? jwks_keys($url, true)[$kid] ?? null;
}

/**
 * Returns [claims, payload JSON text] for a valid token, or null. The
 * algorithm is the one configured, never the token's own choice ("none",
 * or HS256 keyed with a public key, least of all).
 */
function verify_session_token(string $token): ?array
{
    $eddsa = getenv('SESSION_JWKS_URL') || getenv('SESSION_PUBLIC_KEY');
    $secret = (string) getenv('SESSION_SECRET');
    $parts = explode('.', $token);
    if (count($parts) !== 3 || (!$eddsa && $secret === '')) {
        return null;
    }
    [$h64, $p64, $s64] = $parts;
    $header = json_decode((string) b64url_decode($h64), true);
    if (!is_array($header) || ($header['alg'] ?? null) !== ($eddsa ? 'EdDSA' : 'HS256')) {
        return null;
    }
    $signature = b64url_decode($s64);
    if ($signature === false) {
        return null;
    }
    if ($eddsa) {
        $key = eddsa_key($header);
        if ($key === null || strlen($signature) !== SODIUM_CRYPTO_SIGN_BYTES
            || !sodium_crypto_sign_verify_detached($signature, $h64 . '.' . $p64, $key)) {
            return null;
        }
    } else {
        $expected = hash_hmac('sha256', $h64 . '.' . $p64, $secret, true);
        if (!hash_equals($expected, $signature)) {
            return null;
        }
    }
    $payload = b64url_decode($p64);
    $claims = $payload === false ? null : json_decode($payload, true, 512, JSON_BIGINT_AS_STRING);
    $exp = $claims['exp'] ?? null;
    if (!is_array($claims) || !(is_int($exp) || is_float($exp)) || time() >= $exp) {
        return null;
    }
    $audience = (string) getenv('SESSION_AUDIENCE');
    if ($audience !== '' && !in_array($audience, (array) ($claims['aud'] ?? []), true)) {
        return null;
    }
    return [$claims, $payload];
}

function reply(int $status, mixed $body, array $headers = []): void
{
    http_response_code($status);
    foreach ($headers as $name => $value) {
        header("$name: $value");
    }
    header('Content-Type: application/json');
    if ($body !== null) {
        echo json_encode($body);
    }
}

$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
$verified = verify_session_token($_SERVER['HTTP_X_SESSION'] ?? '');
if ($verified === null) {
    reply(401, ['error' => 'missing or invalid X-Session token']);
    exit;
}
[$claims, $payload] = $verified;
$data = is_array($claims['data'] ?? null) ? $claims['data'] : [];

switch ("$method $path") {
    case 'GET /':
        $visits = (int) ($data['visits'] ?? 0) + 1;
        // Django: request.session["visits"] = visits
        reply(200, ['visits' => $visits, 'user' => $data['user'] ?? null, 'new' => (bool) $claims['new']],
            ['X-Session-Set' => json_encode(['visits' => $visits])]);
        break;

    case 'POST /login':
        $user = (string) ($_POST['user'] ?? $_GET['user'] ?? '');
        if ($user === '') {
            reply(400, ['error' => 'user is required']);
            break;
        }
        // Django's login(): store the user, then cycle_key() so that a
        // session id fixed before login is worthless afterwards.
        // json_encode escapes non-ASCII as \uXXXX: safe in a header.
        reply(302, null, [
            'Location' => '/',
            'X-Session-Set' => json_encode(['user' => $user]),
            'X-Session-Cycle-Key' => '1',
        ]);
        break;

    case 'POST /logout':
        // Django's logout(): session.flush() deletes data and key.
        reply(302, null, ['Location' => '/', 'X-Session-Flush' => '1']);
        break;

    case 'POST /expiry':
        $seconds = (string) ($_GET['seconds'] ?? '');
        if (!ctype_digit($seconds)) {
            reply(400, ['error' => 'seconds must be a non-negative integer']);
            break;
        }
        // set_expiry(n) alone does not modify the session; the Set does.
        reply(200, ['expiry' => (int) $seconds], [
            'X-Session-Expiry' => $seconds,
            'X-Session-Set' => json_encode(['expiry_set' => (int) $seconds]),
        ]);
        break;

    case 'POST /set':
        $body = (string) file_get_contents('php://input');
        if (!is_array(json_decode($body, true)) || !str_starts_with(ltrim($body), '{')
            || strpbrk($body, "\r\n\0") !== false) {
            reply(400, ['error' => 'body must be a one-line JSON object']);
            break;
        }
        // Header values are bytes in PHP: raw UTF-8 goes out unchanged.
        reply(200, ['ok' => true], ['X-Session-Set' => $body]);
        break;

    case 'GET /token':
        // The token is verified; show the payload's exact JSON text.
        http_response_code(200);
        header('Content-Type: application/json');
        echo $payload;
        break;

    default:
        reply(404, ['error' => 'not found']);
}
