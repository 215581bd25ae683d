<?php
// The token check: a request whose X-Session token is forged, expired, for
// another audience or missing is answered 401 when it starts a session,
// and the app never runs; a valid one opens the session it carries.

declare(strict_types=1);

require __DIR__ . '/lib.php';

const APP = "session_start();\necho 'APP RAN ', json_encode(\$_SESSION);";

test('a valid HS256 token opens its session', function (): void {
    $r = request(hs256_token(['data' => ['user' => 'ada']]), APP);
    check_same(200, $r['status'], 'status');
    check_same('APP RAN {"user":"ada"}', $r['body'], 'body');
});

test('HS256: a token signed with another secret is refused', function (): void {
    check_refused(request(hs256_token(['data' => ['user' => 'ada']], str_repeat('x', 40)), APP), 'forged');
});

test('HS256: a token whose claims were changed after signing is refused', function (): void {
    [$h, , $s] = explode('.', hs256_token(['data' => ['user' => 'ada']]));
    $p = b64url(json_encode(claims(['data' => ['user' => 'root']])));
    check_refused(request("$h.$p.$s", APP), 'tampered');
});

test('HS256: alg none and a missing signature are refused', function (): void {
    $signing = b64url(json_encode(['alg' => 'none'])) . '.' . b64url(json_encode(claims(['data' => ['user' => 'ada']])));
    check_refused(request("$signing.", APP), 'alg none');
    // The right HMAC under a header that names another alg: the pinned alg wins.
    check_refused(request(hs256_token(['data' => []], SECRET, ['alg' => 'HS512']), APP), 'alg HS512');
});

test('HS256: an expired token is refused', function (): void {
    check_refused(request(hs256_token(['data' => ['user' => 'ada'], 'iat' => time() - 120, 'exp' => time() - 60]), APP), 'expired');
});

test('HS256: a token without exp is refused', function (): void {
    $c = claims(['data' => ['user' => 'ada']]);
    unset($c['exp']);
    $signing = b64url(json_encode(['alg' => 'HS256'])) . '.' . b64url(json_encode($c));
    check_refused(request($signing . '.' . b64url(hash_hmac('sha256', $signing, SECRET, true)), APP), 'no exp');
});

test('a request without a token is refused', function (): void {
    check_refused(request(null, APP), 'no token');
});

test('SESSION_AUDIENCE: a token for another audience, or none, is refused; its own opens', function (): void {
    $env = ['SESSION_AUDIENCE' => 'shop'];
    check_refused(request(hs256_token(['data' => [], 'aud' => 'blog']), APP, $env), 'aud blog');
    check_refused(request(hs256_token(['data' => []]), APP, $env), 'no aud');
    $r = request(hs256_token(['data' => ['k' => 1], 'aud' => 'shop']), APP, $env);
    check_same('APP RAN {"k":1}', $r['body'], 'body with aud shop');
});

test('a script that starts no session runs without a token', function (): void {
    $r = request(null, "echo 'APP RAN';");
    check_same(200, $r['status'], 'status');
    check_same('APP RAN', $r['body'], 'body');
});

test('no secret configured: 500, the app never runs', function (): void {
    $r = request(hs256_token(['data' => []]), APP, ['SESSION_SECRET' => null]);
    check_same(500, $r['status'], 'status');
    check(!str_contains($r['body'], 'APP RAN'), 'the app ran');
});

test('a token split over X-Session, X-Session-Part-2, ... is joined; a part missing or out of order is refused', function (): void {
    $token = hs256_token(['data' => ['user' => 'ada']]);
    $parts = str_split($token, intdiv(strlen($token), 3) + 1);
    check_same(3, count($parts), 'parts');
    $env = ['HTTP_X_SESSION_PART_2' => $parts[1], 'HTTP_X_SESSION_PART_3' => $parts[2]];
    check_same('APP RAN {"user":"ada"}', request($parts[0], APP, $env)['body'], 'joined');
    check_refused(request($parts[0], APP, ['HTTP_X_SESSION_PART_3' => $parts[2]]), 'part 2 missing');
    check_refused(request($parts[0], APP, ['HTTP_X_SESSION_PART_2' => $parts[2], 'HTTP_X_SESSION_PART_3' => $parts[1]]), 'parts swapped');
});

// EdDSA, as behind Caddy's token_alg EdDSA: SESSION_PUBLIC_KEY holds the
// PEM public key (a php-fpm pool writes its line breaks as \n).
$kp = sodium_crypto_sign_keypair();
$sk = sodium_crypto_sign_secretkey($kp);
$eddsaEnv = ['SESSION_PUBLIC_KEY' => str_replace("\n", '\n', ed25519_pem(sodium_crypto_sign_publickey($kp)))];

test('a valid EdDSA token opens its session', function () use ($sk, $eddsaEnv): void {
    $r = request(eddsa_token(['data' => ['user' => 'ada']], $sk), APP, $eddsaEnv);
    check_same(200, $r['status'], 'status');
    check_same('APP RAN {"user":"ada"}', $r['body'], 'body');
});

test('EdDSA: a token signed with another key is refused', function () use ($eddsaEnv): void {
    $other = sodium_crypto_sign_secretkey(sodium_crypto_sign_keypair());
    check_refused(request(eddsa_token(['data' => ['user' => 'ada']], $other), APP, $eddsaEnv), 'forged EdDSA');
});

test('EdDSA: an HS256 token is refused, even one keyed with the public key or signed with the secret', function () use ($kp, $eddsaEnv): void {
    $pem = ed25519_pem(sodium_crypto_sign_publickey($kp));
    check_refused(request(hs256_token(['data' => []], $pem), APP, $eddsaEnv), 'HS256 keyed with the PEM');
    check_refused(request(hs256_token(['data' => []]), APP, $eddsaEnv + ['SESSION_SECRET' => SECRET]), 'HS256 with the secret');
});

test('EdDSA: an expired token is refused', function () use ($sk, $eddsaEnv): void {
    check_refused(request(eddsa_token(['data' => [], 'iat' => time() - 120, 'exp' => time() - 60], $sk), APP, $eddsaEnv), 'expired EdDSA');
});

test('EdDSA: a token for another audience is refused', function () use ($sk, $eddsaEnv): void {
    $env = $eddsaEnv + ['SESSION_AUDIENCE' => 'shop'];
    check_refused(request(eddsa_token(['data' => [], 'aud' => 'blog'], $sk), APP, $env), 'aud blog');
    check_same('APP RAN []', request(eddsa_token(['data' => [], 'aud' => ['shop', 'blog']], $sk), APP, $env)['body'], 'aud list with shop');
});

// SESSION_JWKS_URL: the key picked by the token's kid. A file path stands
// in for Caddy's jwks_path here (file_get_contents reads both); the
// adapter's 5-minute cache is keyed by the URL, unique to this run.
$jwks = sys_get_temp_dir() . '/caddy-session-php-tests-jwks-' . getmypid() . '.json';
file_put_contents($jwks, json_encode(['keys' => [
    ['kty' => 'OKP', 'crv' => 'Ed25519', 'kid' => 'k1', 'x' => b64url(sodium_crypto_sign_publickey($kp))],
]]));
register_shutdown_function(static function () use ($jwks): void {
    @unlink($jwks);
    @unlink(sys_get_temp_dir() . '/caddy-session-jwks-' . hash('sha256', $jwks) . '.json');
});

test('SESSION_JWKS_URL: the kid\'s key verifies; an unknown kid or another key is refused', function () use ($sk, $jwks): void {
    $env = ['SESSION_JWKS_URL' => $jwks];
    check_same('APP RAN {"k":1}', request(eddsa_token(['data' => ['k' => 1]], $sk, 'k1'), APP, $env)['body'], 'kid k1');
    check_refused(request(eddsa_token(['data' => []], $sk, 'k2'), APP, $env), 'unknown kid');
    $other = sodium_crypto_sign_secretkey(sodium_crypto_sign_keypair());
    check_refused(request(eddsa_token(['data' => []], $other, 'k1'), APP, $env), 'kid k1, another key');
});

run_tests();
