<?php
// caddy-session adapter for PHP: an unchanged app's session_start() and
// $_SESSION, kept by Caddy's `session` handler instead of PHP's own store.
//
// Enable it with one line, in php.ini or the php-fpm pool:
//     php_admin_value[auto_prepend_file] = /path/to/caddy-session.php
// or at the top of the app's front controller:
//     require_once '/path/to/caddy-session.php';
// and give PHP the secret Caddy signs with:  env[SESSION_SECRET] = ...
//
// What it does: it registers a session save handler. session_start() reads
// the session from the signed X-Session token Caddy sends (HS256 pinned,
// exp checked); when the session is saved it answers only what the request
// changed, as update headers: keys set (X-Session-Set), keys removed
// (X-Session-Delete), session_regenerate_id() (X-Session-Cycle-Key),
// session_destroy() (X-Session-Flush), and a changed session.cookie_lifetime
// (X-Session-Expiry). PHP sends no PHPSESSID cookie: Caddy owns the cookie.
// A request without a valid token (one that did not come through Caddy, a
// forged or expired one) is answered 401 when it starts a session.
// See docs/adapters.md.
//
// Settings (environment): SESSION_SECRET (HS256, Caddy's default), or for
// Caddy's token_alg EdDSA SESSION_JWKS_URL (the URL of Caddy's jwks_path;
// the set is cached in a file of this user's for 5 minutes and fetched
// again for an unknown kid) or SESSION_PUBLIC_KEY (one PEM public key; in a
// pool file write its line breaks as \n); EdDSA is verified with PHP's
// sodium. SESSION_AUDIENCE: when set, a token whose aud is not this is
// refused (Caddy's `audience`). CADDY_SESSION_HEADER (the `header` of the
// Caddyfile; X-Session by default).

declare(strict_types=1);

namespace CaddySession;

if (\defined('CADDY_SESSION_ADAPTER')) {
    return; // loaded already (auto_prepend_file and a require)
}
\define('CADDY_SESSION_ADAPTER', '1');

/** A session value JSON cannot hold; thrown when the session is saved. */
final class UnstorableValue extends \UnexpectedValueException
{
}

final class Handler implements \SessionHandlerInterface, \SessionIdInterface, \SessionUpdateTimestampHandlerInterface
{
    private static ?Handler $instance = null;

    private ?array $claims = null;
    /** Why the token was refused, or null. */
    private ?string $refusal = null;
    private int $refusalStatus = 401;
    /** @var array<string|int, mixed> the session as the token brought it (or empty after a flush) */
    private array $base = [];
    /** @var array<string|int, mixed> the session as last read or saved */
    private array $current = [];
    private bool $flush = false;
    private bool $cycle = false;
    private bool $buffering = false;
    private readonly string $lifetime;

    private function __construct(
        private readonly string $secret,
        private readonly string $header,
        private readonly string $jwksUrl = '',
        private readonly string $publicKey = '',
        private readonly string $audience = '',
    ) {
        // The lifetime the request started with is Caddy's default (its
        // cookie_age or expire_at_browser_close); a change is set_expiry.
        $this->lifetime = (string) \ini_get('session.cookie_lifetime');
    }

    public static function install(): self
    {
        if (self::$instance !== null) {
            return self::$instance;
        }
        $secret = (string) \getenv('SESSION_SECRET');
        $header = (string) (\getenv('CADDY_SESSION_HEADER') ?: 'X-Session');
        $h = self::$instance = new self($secret, $header, (string) \getenv('SESSION_JWKS_URL'),
            (string) \getenv('SESSION_PUBLIC_KEY'), (string) \getenv('SESSION_AUDIENCE'));
        $h->verify();

        // Caddy owns the cookie: PHP must neither read nor send PHPSESSID.
        // session.use_cookies stays on, or session_set_cookie_params()
        // would refuse to set the lifetime; the session id is set here,
        // so no cookie is read, and the cookie is taken out of the
        // response headers just before they are sent.
        \ini_set('session.use_only_cookies', '1');
        \ini_set('session.use_trans_sid', '0');
        \ini_set('session.use_strict_mode', '0');
        unset($_COOKIE[\session_name()]);
        \session_id($h->sessionId());
        \header_register_callback([$h, 'dropSessionCookie']);
        // $_SESSION goes through serialize(), which the handler reads back.
        \ini_set('session.serialize_handler', 'php_serialize');
        \session_set_save_handler($h, false);
        // Save the session before PHP flushes its output at the end of the
        // script, so the update headers can still be sent. Registered from a
        // shutdown function, it runs after the app's own shutdown functions.
        \register_shutdown_function(static function () use ($h): void {
            \register_shutdown_function([$h, 'finish']);
        });
        return $h;
    }

    /** The verified token's claims (data, new, sid, expires_at, ...), or null when it was refused. */
    public static function claims(): ?array
    {
        return self::$instance?->claims;
    }

    public function finish(): void
    {
        if (\session_status() === \PHP_SESSION_ACTIVE) {
            \session_write_close();
        }
    }

    /** Removes PHP's own session cookie from the response (header_register_callback). */
    public function dropSessionCookie(): void
    {
        $prefix = \session_name() . '=';
        $keep = [];
        $found = false;
        foreach (\headers_list() as $line) {
            if (\strncasecmp($line, 'Set-Cookie:', 11) !== 0) {
                continue;
            }
            if (\str_starts_with(\ltrim(\substr($line, 11)), $prefix)) {
                $found = true;
            } else {
                $keep[] = $line;
            }
        }
        if ($found) {
            \header_remove('Set-Cookie');
            foreach ($keep as $line) {
                \header($line, false);
            }
        }
    }

    public function open(string $path, string $name): bool
    {
        if ($this->refusal !== null) {
            self::refuse($this->refusal, $this->refusalStatus);
        }
        // From here until the session is saved the response is held back,
        // so that output the app writes meanwhile cannot send the headers
        // before the update headers are set.
        if (!$this->buffering) {
            $this->buffering = \ob_start([self::class, 'passThrough']);
        }
        return true;
    }

    /** Our output buffer's handler, by whose name we find it. */
    public static function passThrough(string $buffer): string
    {
        return $buffer;
    }

    public function close(): bool
    {
        return true;
    }

    public function read(string $id): string|false
    {
        return \serialize($this->current);
    }

    public function write(string $id, string $data): bool
    {
        $session = \unserialize($data);
        $this->current = \is_array($session) ? $session : [];
        return $this->emit() && $this->endBuffer();
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        return $this->write($id, $data); // unchanged data; the expiry may have changed
    }

    public function validateId(string $id): bool
    {
        return true;
    }

    public function destroy(string $id): bool
    {
        if (self::calledBy('session_regenerate_id')) {
            $this->cycle = true; // session_regenerate_id(true): the old id dies, the data stays
        } else {
            // session_destroy(): data and key gone; a later session_start()
            // in this request begins an empty session under a new key.
            $this->flush = true;
            $this->cycle = false;
            $this->base = $this->current = [];
            return $this->emit() && $this->endBuffer();
        }
        return $this->emit();
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0; // Caddy's store expires sessions
    }

    public function create_sid(): string
    {
        if (self::calledBy('session_regenerate_id')) {
            $this->cycle = true; // session_regenerate_id(false) too: a key lives in one place
            $this->emit();
        }
        return \bin2hex(\random_bytes(16));
    }

    /** session_id(): the token's sid in hex, stable for one session key and never the cookie. */
    private function sessionId(): string
    {
        $sid = $this->claims['sid'] ?? null;
        if (\is_string($sid) && ($raw = self::b64url($sid)) !== false && $raw !== '') {
            return \bin2hex($raw);
        }
        return \bin2hex(\random_bytes(16));
    }

    /**
     * Sets the update headers for everything this request changed so far,
     * replacing what an earlier save set. Nothing is set unless all of it
     * can be: a value JSON cannot hold throws UnstorableValue.
     */
    private function emit(): bool
    {
        $set = [];
        foreach ($this->current as $k => $v) {
            if (!\array_key_exists($k, $this->base) || $this->base[$k] !== $v) {
                $set[(string) $k] = $v;
            }
        }
        $delete = [];
        foreach ($this->base as $k => $_) {
            if (!\array_key_exists($k, $this->current)) {
                $delete[] = (string) $k;
            }
        }
        $headers = [];
        if ($this->flush) {
            $headers['Flush'] = '1';
        }
        if ($delete) {
            $headers['Delete'] = \json_encode($delete, \JSON_THROW_ON_ERROR | \JSON_UNESCAPED_SLASHES);
        }
        if ($set) {
            $headers['Set'] = self::encode($set);
        }
        if ($this->cycle) {
            $headers['Cycle-Key'] = '1';
        }
        $lifetime = (string) \ini_get('session.cookie_lifetime');
        if ($lifetime !== $this->lifetime) {
            $headers['Expiry'] = (string) (int) $lifetime; // 0: until the browser closes
        }

        if (\headers_sent($file, $line)) {
            if (!$headers) {
                return true;
            }
            \trigger_error(\sprintf('caddy-session: output started at %s:%d before the session was saved; '
                . 'its changes cannot be sent to Caddy and are lost (call session_write_close() before flushing output)',
                $file, $line), \E_USER_WARNING);
            return false;
        }
        foreach (['Flush', 'Delete', 'Set', 'Cycle-Key', 'Expiry'] as $name) {
            \header_remove("$this->header-$name");
            if (isset($headers[$name])) {
                \header("$this->header-$name: $headers[$name]");
            }
        }
        return true;
    }

    /** JSON of the changed keys, every value checked, the key named in the error. */
    private static function encode(array $set): string
    {
        $flags = \JSON_THROW_ON_ERROR | \JSON_UNESCAPED_SLASHES | \JSON_PRESERVE_ZERO_FRACTION;
        foreach ($set as $k => $v) {
            $why = self::unstorable($v);
            if ($why === null) {
                try {
                    \json_encode($v, $flags);
                } catch (\JsonException $e) {
                    $why = $e->getMessage();
                }
            }
            if ($why !== null) {
                // All or nothing: no update header, and a 5xx, on which
                // Caddy persists nothing even if the app catches this.
                self::dropHeaders();
                if (!\headers_sent()) {
                    \http_response_code(500);
                }
                throw new UnstorableValue(\sprintf('caddy-session: $_SESSION[%s] cannot be stored as JSON (%s); '
                    . 'the session was not saved. Store only null, booleans, numbers, UTF-8 strings and arrays.',
                    \var_export($k, true), $why));
            }
        }
        // An object, even for keys 0, 1, ...; json_encode escapes non-ASCII
        // as \uXXXX, which a header carries safely.
        return \json_encode((object) $set, $flags);
    }

    /** Why $v would not come back as it is from JSON, or null. */
    private static function unstorable(mixed $v): ?string
    {
        if (\is_object($v)) {
            return 'an object of class ' . \get_class($v) . ' would come back as an array';
        }
        if (\is_resource($v)) {
            return 'a resource';
        }
        if (\is_array($v)) {
            foreach ($v as $item) {
                if (($why = self::unstorable($item)) !== null) {
                    return $why;
                }
            }
        }
        return null;
    }

    private static function dropHeaders(): void
    {
        if (!\headers_sent() && self::$instance !== null) {
            foreach (['Flush', 'Delete', 'Set', 'Cycle-Key', 'Expiry'] as $name) {
                \header_remove(self::$instance->header . "-$name");
            }
        }
    }

    /**
     * Once the session is saved the headers are set: output may flow again.
     * Ends only our own buffer, and only when it is the innermost one (an
     * app's buffer opened after session_start() stays as it is).
     */
    private function endBuffer(): bool
    {
        $status = \ob_get_status();
        if ($this->buffering && ($status['name'] ?? '') === self::class . '::passThrough') {
            $this->buffering = false;
            \ob_end_flush();
        }
        return true;
    }

    private static function calledBy(string $function): bool
    {
        foreach (\debug_backtrace(\DEBUG_BACKTRACE_IGNORE_ARGS, 4) as $frame) {
            if (!isset($frame['class']) && $frame['function'] === $function) {
                return true;
            }
        }
        return false;
    }

    /**
     * Verifies the token: HS256 pinned (the token's own alg is never
     * trusted), the HMAC compared in constant time, exp required; or,
     * with a JWKS URL or public key, EdDSA pinned and verified with
     * sodium; aud checked when SESSION_AUDIENCE is set. A
     * refusal is answered (401) when the app starts a session, so scripts
     * without sessions run as before.
     */
    private function verify(): void
    {
        $why = $this->check();
        if (\is_string($why)) {
            $this->refusal = $why;
            return;
        }
        $this->claims = $why;
        $data = $why['data'] ?? null;
        $this->base = $this->current = \is_array($data) ? $data : [];
    }

    /** The claims of a valid token, or why it is refused. */
    private function check(): array|string
    {
        $token = (string) ($_SERVER['HTTP_' . \strtoupper(\strtr($this->header, '-', '_'))] ?? '');
        $eddsa = $this->jwksUrl !== '' || $this->publicKey !== '';
        if (!$eddsa && $this->secret === '') {
            $this->refusalStatus = 500;
            return 'none of SESSION_SECRET, SESSION_JWKS_URL, SESSION_PUBLIC_KEY is set in PHP\'s environment';
        }
        if ($this->publicKey !== '' && self::ed25519FromPem($this->publicKey) === null) {
            $this->refusalStatus = 500;
            return 'SESSION_PUBLIC_KEY is not a PEM Ed25519 public key';
        }
        if ($token === '') {
            return 'no session token: the request did not come through Caddy\'s session handler';
        }
        $parts = \explode('.', $token);
        if (\count($parts) !== 3) {
            return 'malformed session token';
        }
        [$h64, $p64, $s64] = $parts;
        $header = \json_decode((string) self::b64url($h64), true);
        $alg = $eddsa ? 'EdDSA' : 'HS256';
        if (!\is_array($header) || ($header['alg'] ?? null) !== $alg) {
            return "session token not signed with $alg";
        }
        $signature = self::b64url($s64);
        if ($signature === false) {
            return 'session token signature does not verify';
        }
        if ($eddsa) {
            $key = $this->eddsaKey($header);
            if ($key === null) {
                return 'no public key for the session token\'s kid';
            }
            if (\strlen($signature) !== \SODIUM_CRYPTO_SIGN_BYTES
                || !\sodium_crypto_sign_verify_detached($signature, "$h64.$p64", $key)) {
                return 'session token signature does not verify';
            }
        } else {
            $expected = \hash_hmac('sha256', "$h64.$p64", $this->secret, true);
            if (!\hash_equals($expected, $signature)) {
                return 'session token signature does not verify';
            }
        }
        $payload = self::b64url($p64);
        $claims = $payload === false ? null : \json_decode($payload, true, 512, \JSON_BIGINT_AS_STRING);
        $exp = $claims['exp'] ?? null;
        if (!\is_array($claims) || !(\is_int($exp) || \is_float($exp)) || \time() >= $exp) {
            return 'session token expired or without exp';
        }
        if (!\is_array($claims['data'] ?? null)) {
            return 'session token without data';
        }
        if ($this->audience !== '' && !\in_array($this->audience, (array) ($claims['aud'] ?? []), true)) {
            return 'session token for another audience';
        }
        return $claims;
    }

    /** The public key for a token's kid, fetching the JWKS again once when the kid is unknown. */
    private function eddsaKey(array $header): ?string
    {
        if ($this->publicKey !== '') {
            return self::ed25519FromPem($this->publicKey);
        }
        $kid = $header['kid'] ?? null;
        if (!\is_string($kid)) {
            return null;
        }
        return self::jwksKeys($this->jwksUrl, false)[$kid] ?? self::jwksKeys($this->jwksUrl, true)[$kid] ?? null;
    }

    /** The raw 32-byte key of a PEM Ed25519 "PUBLIC KEY" (SubjectPublicKeyInfo), or null. */
    private static function ed25519FromPem(string $pem): ?string
    {
        $pem = \str_replace('\n', "\n", $pem);
        if (!\preg_match('/-----BEGIN PUBLIC KEY-----(.+)-----END PUBLIC KEY-----/s', $pem, $m)) {
            return null;
        }
        $der = \base64_decode((string) \preg_replace('/\s+/', '', $m[1]), true);
        // The fixed DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
        $prefix = \hex2bin('302a300506032b6570032100');
        if ($der === false || \strlen($der) !== 44 || !\str_starts_with($der, $prefix)) {
            return null;
        }
        return \substr($der, 12);
    }

    /**
     * The Ed25519 keys of the JWKS at $url by kid: from a cache file of
     * this user's younger than 5 minutes unless $refresh, else fetched;
     * [] when it cannot be fetched.
     */
    private static function jwksKeys(string $url, bool $refresh): array
    {
        $dir = \sys_get_temp_dir();
        $cache = $dir . '/caddy-session-jwks-' . \hash('sha256', $url) . '.json';
        $text = false;
        // The temporary directory is shared: only a file this user wrote and
        // nobody else can change is trusted (another user's would hold keys
        // of their choosing).
        \clearstatcache();
        if (!$refresh && \function_exists('posix_geteuid') && \is_file($cache) && !\is_link($cache)
            && \fileowner($cache) === \posix_geteuid() && (\fileperms($cache) & 0o022) === 0
            && \time() - (int) \filemtime($cache) < 300) {
            $text = \file_get_contents($cache);
        }
        if ($text === false) {
            $text = @\file_get_contents($url, false, \stream_context_create(['http' => ['timeout' => 5]]));
            if ($text === false) {
                \error_log("caddy-session: cannot fetch the JWKS at $url");
                return [];
            }
            $tmp = \tempnam($dir, 'caddy-session-jwks-'); // mode 0600
            if ($tmp !== false && \file_put_contents($tmp, $text) !== false && !@\rename($tmp, $cache)) {
                @\unlink($tmp);
            }
        }
        $keys = [];
        $set = \json_decode($text, true);
        foreach (\is_array($set['keys'] ?? null) ? $set['keys'] : [] as $k) {
            if (\is_array($k) && ($k['kty'] ?? '') === 'OKP' && ($k['crv'] ?? '') === 'Ed25519' && \is_string($k['kid'] ?? null)) {
                $x = self::b64url((string) ($k['x'] ?? ''));
                if ($x !== false && \strlen($x) === \SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES) {
                    $keys[$k['kid']] = $x;
                }
            }
        }
        return $keys;
    }

    private static function refuse(string $why, int $status = 401): never
    {
        while (\ob_get_level() > 0) {
            \ob_end_clean();
        }
        \error_log("caddy-session: request refused: $why");
        if (!\headers_sent()) {
            \header_remove();
            \http_response_code($status);
            \header('Content-Type: text/plain; charset=utf-8');
        }
        echo $status === 401 ? "missing or invalid session token\n" : "session adapter misconfigured\n";
        exit;
    }

    private static function b64url(string $s): string|false
    {
        if (!\preg_match('/\A[A-Za-z0-9_-]*\z/', $s)) {
            return false;
        }
        return \base64_decode(\strtr($s, '-_', '+/'), true);
    }
}

Handler::install();
