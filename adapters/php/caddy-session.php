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
// The session is saved when PHP saves its own: after the shutdown functions
// (even one that calls exit) and the destructors, with what changed up to
// the first byte of the response. Values that are not JSON (binary strings,
// dates, objects) travel in the tag convention of docs/adapters.md; objects
// carry an HMAC under this app's own key (CADDY_SESSION_PHP_OBJECT_KEY, or
// a key file, see docs/security.md) and are unserialized only when it
// verifies.
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

/** A session value no convention carries (a resource, a closure, NAN); thrown when the session is saved. */
final class UnstorableValue extends \UnexpectedValueException
{
}

final class Handler implements \SessionHandlerInterface, \SessionIdInterface, \SessionUpdateTimestampHandlerInterface
{
    private static ?Handler $instance = null;

    /** The known tags of the value convention (docs/adapters.md, "Values that are not JSON"). */
    private const TAGS = [' b', ' t', ' u', ' m', ' d', ' tm', ' sym', ' php', ' di'];
    private const JSON_FLAGS = \JSON_THROW_ON_ERROR | \JSON_UNESCAPED_SLASHES | \JSON_PRESERVE_ZERO_FRACTION;
    private const UPDATE_HEADERS = ['Flush', 'Delete', 'Set', 'Cycle-Key', 'Expiry'];

    private ?array $claims = null;
    /** Why the token was refused, or null. */
    private ?string $refusal = null;
    private int $refusalStatus = 401;
    /** The token's data has been decoded (at the first session_start, when the app's classes can load). */
    private bool $decoded = false;
    /** @var array<string, string> each key's value as the token brought it, in the convention's JSON (empty after a flush) */
    private array $baseJson = [];
    /** @var array<string, string> the session as last read or saved, key by key, in the convention's JSON */
    private array $currentJson = [];
    /** The session as last read or saved, as PHP's php_serialize handler writes it (what read() gives PHP). */
    private string $currentSer = 'a:0:{}';
    /** The session is open: $_SESSION is what counts. */
    private bool $active = false;
    private bool $flush = false;
    private bool $cycle = false;
    private bool $buffering = false;
    /** A value could not be stored: nothing of this request is sent. */
    private bool $failed = false;
    /** @var array<string, string> the update headers as last set */
    private array $emitted = [];
    private bool $lostLogged = false;
    private ?string $objectKey = null;
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
        // Just before the first byte of the response leaves, PHP calls
        // this: the update headers then carry the session as it is at
        // that moment.
        \header_register_callback([$h, 'headersGoing']);
        // $_SESSION goes through serialize(), which the handler reads back.
        \ini_set('session.serialize_handler', 'php_serialize');
        // No shutdown function of ours: PHP writes its own sessions after
        // every shutdown function (even one that calls exit) and every
        // destructor, and so does this handler, from the output buffer it
        // holds while the session is open (see open()).
        \session_set_save_handler($h, false);
        return $h;
    }

    /** The verified token's claims (data, new, sid, expires_at, ...), or null when it was refused. */
    public static function claims(): ?array
    {
        return self::$instance?->claims;
    }

    /**
     * header_register_callback: the headers are about to leave. The update
     * headers are set for the session as it is now; PHP's own session
     * cookie is taken out.
     */
    public function headersGoing(): void
    {
        if ($this->decoded) {
            $this->sync();
        }
        $this->dropSessionCookie();
    }

    /** Removes PHP's own session cookie from the response. */
    private function dropSessionCookie(): void
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
        // While the session is open the response is held back, so that
        // output the app writes meanwhile cannot send the headers before
        // the session is saved. At the end of the request PHP flushes this
        // buffer after the shutdown functions and the destructors, and
        // before its own session module would write: that is when the
        // update headers are set (output(), then headersGoing()).
        if (!$this->buffering) {
            $this->buffering = \ob_start([$this, 'output']);
        }
        return true;
    }

    /** Our output buffer's handler. */
    public function output(string $buffer, int $phase): string
    {
        if ($phase & \PHP_OUTPUT_HANDLER_FINAL) {
            $this->buffering = false;
            $this->sync();
        }
        return $buffer;
    }

    public function close(): bool
    {
        if (!self::calledBy('session_regenerate_id')) {
            // Saved (write() came first) or abandoned (session_abort(),
            // read_and_close): $_SESSION no longer counts.
            $this->active = false;
            $this->endBuffer();
        }
        return true;
    }

    public function read(string $id): string|false
    {
        if (!$this->decoded) {
            $this->decoded = true;
            $data = $this->claims['data'] ?? [];
            $session = [];
            foreach (\is_array($data) ? $data : [] as $k => $v) {
                try {
                    $value = $this->fromJson($v);
                    $this->baseJson[(string) $k] = \json_encode($this->toJson($value, (string) $k), self::JSON_FLAGS);
                    $session[$k] = $value;
                } catch (RefusedValue $e) {
                    // Neither shown to the app nor deleted: the key stays
                    // in the store as it is.
                    \error_log(\sprintf('caddy-session: $_SESSION[%s] refused: %s', \var_export($k, true), $e->getMessage()));
                } catch (UnstorableValue | \JsonException) {
                    $session[$k] = $value; // read as it is; rewritten only if the app changes it
                }
            }
            $this->currentJson = $this->baseJson;
            $this->currentSer = \serialize($session);
            // $session's objects go now: the app gets its own from PHP's
            // unserializer, as from its own sessions.
            unset($session, $value);
        }
        $this->active = true;
        return $this->currentSer;
    }

    public function write(string $id, string $data): bool
    {
        $session = \is_array($_SESSION ?? null) ? $_SESSION : [];
        try {
            $this->currentJson = $this->encodeEach($session);
        } catch (UnstorableValue $e) {
            $this->fail($e);
            if (self::calledBy('session_write_close') || self::calledBy('session_commit') || self::calledBy('session_regenerate_id')) {
                throw $e;
            }
            return false;
        }
        $this->currentSer = $data;
        $this->active = self::calledBy('session_regenerate_id');
        $this->sync();
        return true;
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
            return true;
        }
        // session_destroy(): data and key gone; a later session_start()
        // in this request begins an empty session under a new key.
        $this->flush = true;
        $this->cycle = false;
        $this->baseJson = $this->currentJson = [];
        $this->currentSer = 'a:0:{}';
        $this->active = false;
        $this->sync();
        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0; // Caddy's store expires sessions
    }

    public function create_sid(): string
    {
        if (self::calledBy('session_regenerate_id')) {
            $this->cycle = true; // session_regenerate_id(false) too: a key lives in one place
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
     * replacing what was set before. Once the headers have left, a change
     * that can no longer be sent is logged to PHP's error log (not through
     * the app's error handler, which may hide it).
     */
    private function sync(): void
    {
        if ($this->failed) {
            return;
        }
        try {
            $headers = $this->pending();
        } catch (UnstorableValue $e) {
            $this->fail($e);
            return;
        }
        if (!\headers_sent($file, $line)) {
            foreach (self::UPDATE_HEADERS as $name) {
                \header_remove("$this->header-$name");
                if (isset($headers[$name])) {
                    \header("$this->header-$name: $headers[$name]");
                }
            }
            $this->emitted = $headers;
            return;
        }
        if ($headers != $this->emitted && !$this->lostLogged) {
            $this->lostLogged = true;
            \error_log(\sprintf('caddy-session: the response started at %s:%d before the session was saved; '
                . 'the session changes made since (%s) cannot be sent to Caddy and are LOST '
                . '(call session_write_close() before flushing output)',
                $file, $line, \implode(', ', \array_keys(\array_diff_assoc($headers, $this->emitted)))));
        }
    }

    /** The update headers for the session as it is now, by name. */
    private function pending(): array
    {
        $now = $this->active ? $this->encodeEach(\is_array($_SESSION ?? null) ? $_SESSION : []) : $this->currentJson;
        $set = [];
        foreach ($now as $k => $json) {
            if (($this->baseJson[$k] ?? null) !== $json) {
                $set[] = \json_encode((string) $k, self::JSON_FLAGS) . ':' . $json;
            }
        }
        $delete = [];
        foreach ($this->baseJson as $k => $_) {
            if (!\array_key_exists($k, $now)) {
                $delete[] = (string) $k;
            }
        }
        $headers = [];
        if ($this->flush) {
            $headers['Flush'] = '1';
        }
        if ($delete) {
            $headers['Delete'] = \json_encode($delete, self::JSON_FLAGS);
        }
        if ($set) {
            $headers['Set'] = '{' . \implode(',', $set) . '}';
        }
        if ($this->cycle) {
            $headers['Cycle-Key'] = '1';
        }
        $lifetime = (string) \ini_get('session.cookie_lifetime');
        if ($lifetime !== $this->lifetime) {
            $headers['Expiry'] = (string) (int) $lifetime; // 0: until the browser closes
        }
        return $headers;
    }

    /**
     * All or nothing: no update header, and a 5xx, on which Caddy persists
     * nothing even if the app catches the exception.
     */
    private function fail(UnstorableValue $e): void
    {
        $this->failed = true;
        \error_log($e->getMessage());
        if (!\headers_sent()) {
            foreach (self::UPDATE_HEADERS as $name) {
                \header_remove("$this->header-$name");
            }
            \http_response_code(500);
        }
    }

    /** @return array<string, string> each key's value in the convention's JSON */
    private function encodeEach(array $session): array
    {
        $out = [];
        foreach ($session as $k => $v) {
            try {
                $out[(string) $k] = \json_encode($this->toJson($v, (string) $k), self::JSON_FLAGS);
            } catch (\JsonException $e) {
                throw self::unstorable($k, $e->getMessage());
            }
        }
        return $out;
    }

    private static function unstorable(int|string $key, string $why): UnstorableValue
    {
        return new UnstorableValue(\sprintf('caddy-session: $_SESSION[%s] cannot be stored (%s); the session was not saved',
            \var_export($key, true), $why));
    }

    /**
     * A PHP value as the value convention writes it, for json_encode: a
     * string that is not UTF-8 as {" b": base64}, a DateTimeImmutable as
     * {" tm": RFC 3339 with its offset}, any other object as
     * {" php": {c, s, h}} (PHP's serialize(), authenticated with this app's
     * object key), an array with one key that is a tag escaped as
     * {" di": {"<tag>__": ...}} (Flask's escape).
     */
    private function toJson(mixed $v, string $key): mixed
    {
        if (\is_string($v)) {
            return \preg_match('//u', $v) ? $v : [' b' => \base64_encode($v)];
        }
        if (\is_array($v)) {
            if (\array_is_list($v)) {
                return \array_map(fn ($item) => $this->toJson($item, $key), $v);
            }
            $out = new \stdClass();
            foreach ($v as $k => $item) {
                $out->{$k} = $this->toJson($item, $key);
            }
            if (\count($v) === 1 && \in_array((string) \array_key_first($v), self::TAGS, true)) {
                $k = (string) \array_key_first($v);
                return [' di' => [$k . '__' => $out->{$k}]];
            }
            return $out;
        }
        if (\is_float($v) && !\is_finite($v)) {
            throw self::unstorable($key, \is_nan($v) ? 'NAN' : 'INF');
        }
        if ($v === null || \is_bool($v) || \is_int($v) || \is_float($v)) {
            return $v;
        }
        if ($v instanceof \DateTimeImmutable && \get_class($v) === \DateTimeImmutable::class) {
            return [' tm' => $v->format('Y-m-d\TH:i:s.u') . '000' . $v->format('P')];
        }
        if (\is_object($v)) {
            $class = \get_class($v);
            try {
                $s = \serialize($v);
            } catch (\Throwable $e) {
                throw self::unstorable($key, 'an object of class ' . $class . ': ' . $e->getMessage());
            }
            // The reader lets unserialize() create this class only.
            if (\preg_match_all('/(?:^|[;{}])[OC]:\d+:"([^"]+)"/', $s, $m)) {
                foreach ($m[1] as $inner) {
                    if (\strcasecmp($inner, $class) !== 0) {
                        throw self::unstorable($key, "an object of class $class holds an object of class $inner; "
                            . 'store each object under its own key');
                    }
                }
            }
            $objectKey = $this->objectKey();
            if ($objectKey === null) {
                throw self::unstorable($key, "an object of class $class, and no object key (CADDY_SESSION_PHP_OBJECT_KEY)");
            }
            return [' php' => [
                'c' => $class,
                's' => \preg_match('//u', $s) ? $s : [' b' => \base64_encode($s)],
                'h' => \hash_hmac('sha256', $class . "\n" . $s, $objectKey),
            ]];
        }
        throw self::unstorable($key, 'a ' . \get_debug_type($v));
    }

    /** A JSON value (decoded as arrays) as the value convention reads it in PHP. */
    private function fromJson(mixed $v): mixed
    {
        if (!\is_array($v)) {
            return $v;
        }
        if (\count($v) === 1 && \is_string($tag = \array_key_first($v)) && \in_array($tag, self::TAGS, true)) {
            $x = $v[$tag];
            switch ($tag) {
                case ' b':
                    if (\is_string($x) && ($raw = \base64_decode($x, true)) !== false) {
                        return $raw;
                    }
                    break;
                case ' t':
                    if (\is_array($x) && \array_is_list($x)) {
                        return \array_map(fn ($item) => $this->fromJson($item), $x);
                    }
                    break;
                case ' u':
                case ' m':
                case ' sym':
                    if (\is_string($x)) {
                        return $x;
                    }
                    break;
                case ' d':
                    if (\is_string($x) && ($t = \DateTimeImmutable::createFromFormat('!D, d M Y H:i:s \G\M\T', $x, new \DateTimeZone('UTC')))) {
                        return $t;
                    }
                    break;
                case ' tm':
                    if (\is_string($x) && ($t = self::rfc3339($x)) !== null) {
                        return $t;
                    }
                    break;
                case ' php':
                    return $this->object($x);
                case ' di':
                    if (\is_array($x) && \count($x) === 1 && \str_ends_with((string) \array_key_first($x), '__')) {
                        $k = (string) \array_key_first($x);
                        return [\substr($k, 0, -2) => $this->fromJson($x[$k])];
                    }
                    break;
            }
        }
        // A plain object or array, or an unknown or malformed tag: as it is.
        foreach ($v as $k => $item) {
            $v[$k] = $this->fromJson($item);
        }
        return $v;
    }

    /** A " php" value: unserialized only when its HMAC verifies, and only as the class it names. */
    private function object(mixed $x): object
    {
        $class = \is_array($x) ? ($x['c'] ?? null) : null;
        $s = \is_array($x) ? ($x['s'] ?? null) : null;
        if (\is_array($s) && \count($s) === 1 && \is_string($s[' b'] ?? null)) {
            $s = \base64_decode($s[' b'], true);
        }
        $mac = \is_array($x) ? ($x['h'] ?? null) : null;
        if (!\is_string($class) || !\is_string($s) || !\is_string($mac)) {
            throw new RefusedValue('a malformed PHP object');
        }
        $objectKey = $this->objectKey();
        if ($objectKey === null || !\hash_equals(\hash_hmac('sha256', $class . "\n" . $s, $objectKey), $mac)) {
            throw new RefusedValue("a PHP object of class $class whose HMAC does not verify with this app's object key "
                . '(written by another app or upstream, or under another key); it was not unserialized');
        }
        $o = @\unserialize($s, ['allowed_classes' => [$class]]);
        if (!\is_object($o) || $o instanceof \__PHP_Incomplete_Class || \strcasecmp(\get_class($o), $class) !== 0) {
            throw new RefusedValue("a PHP object of class $class that does not unserialize as that class (is the class loaded?)");
        }
        return $o;
    }

    /** RFC 3339 with up to nanoseconds ("Z" or an offset) as a DateTimeImmutable (microseconds), or null. */
    private static function rfc3339(string $s): ?\DateTimeImmutable
    {
        if (!\preg_match('/\A(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)\z/', $s, $m)) {
            return null;
        }
        $micro = \substr(\str_pad($m[3], 6, '0'), 0, 6);
        $offset = \strtoupper($m[4]) === 'Z' ? '+00:00' : $m[4];
        $t = \DateTimeImmutable::createFromFormat('!Y-m-d H:i:s.u P', "$m[1] $m[2].$micro $offset");
        return $t === false ? null : $t;
    }

    /**
     * The key that authenticates this app's PHP objects in the session:
     * CADDY_SESSION_PHP_OBJECT_KEY (at least 32 bytes), else the key file
     * CADDY_SESSION_PHP_OBJECT_KEY_FILE, by default
     * caddy-session-php-object-<uid>.key in session.save_path (or the temporary
     * directory), created with 32 random bytes on first use. Only a file
     * this user owns and nobody else can read or write is used. Null, and
     * logged, when there is none.
     */
    private function objectKey(): ?string
    {
        if ($this->objectKey !== null) {
            return $this->objectKey === '' ? null : $this->objectKey;
        }
        $this->objectKey = '';
        $env = (string) \getenv('CADDY_SESSION_PHP_OBJECT_KEY');
        if ($env !== '') {
            if (\strlen($env) < 32) {
                \error_log('caddy-session: CADDY_SESSION_PHP_OBJECT_KEY is shorter than 32 bytes; PHP objects in the session are refused');
                return null;
            }
            return $this->objectKey = $env;
        }
        $file = (string) \getenv('CADDY_SESSION_PHP_OBJECT_KEY_FILE');
        if ($file === '') {
            $dir = (string) \ini_get('session.save_path');
            $dir = \substr($dir, (int) \strrpos(";$dir", ';')); // "N;MODE;/path" keeps the path
            if ($dir === '' || !\is_dir($dir) || !\is_writable($dir)) {
                $dir = \sys_get_temp_dir();
            }
            // One file per user: pools of different users keep apart.
            $uid = \function_exists('posix_geteuid') ? '-' . \posix_geteuid() : '';
            $file = \rtrim($dir, '/') . "/caddy-session-php-object$uid.key";
        }
        $key = self::readKeyFile($file);
        if ($key === null && !\file_exists($file)) {
            $tmp = @\tempnam(\dirname($file), 'caddy-session-key-'); // mode 0600
            if ($tmp !== false) {
                if (\file_put_contents($tmp, \bin2hex(\random_bytes(32))) !== false && @\link($tmp, $file)) {
                    \error_log("caddy-session: created the PHP object key file $file");
                }
                @\unlink($tmp);
                $key = self::readKeyFile($file); // ours, or one another worker created first
            }
        }
        if ($key === null) {
            \error_log("caddy-session: no usable PHP object key (CADDY_SESSION_PHP_OBJECT_KEY, or the file $file, "
                . 'owned by this user and not readable by others); PHP objects in the session are refused');
            return null;
        }
        return $this->objectKey = $key;
    }

    private static function readKeyFile(string $file): ?string
    {
        \clearstatcache();
        if (!\function_exists('posix_geteuid') || !\is_file($file) || \is_link($file)
            || \fileowner($file) !== \posix_geteuid() || (\fileperms($file) & 0o077) !== 0) {
            return null;
        }
        $key = \trim((string) \file_get_contents($file));
        return \strlen($key) >= 32 ? $key : null;
    }

    /**
     * Once the session is saved the headers are set: output may flow again.
     * Ends only our own buffer, and only when it is the innermost one (an
     * app's buffer opened after session_start() stays as it is).
     */
    private function endBuffer(): void
    {
        $status = \ob_get_status();
        if ($this->buffering && ($status['name'] ?? '') === self::class . '::output') {
            \ob_end_flush(); // output() sees the final phase
        }
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
    }

    /** The claims of a valid token, or why it is refused. */
    private function check(): array|string
    {
        // A long token comes in parts: X-Session, X-Session-Part-2, ...
        // (docs/protocol.md); joined, the signature covers them all.
        $var = 'HTTP_' . \strtoupper(\strtr($this->header, '-', '_'));
        $token = (string) ($_SERVER[$var] ?? '');
        for ($i = 2; isset($_SERVER["{$var}_PART_$i"]); $i++) {
            $token .= (string) $_SERVER["{$var}_PART_$i"];
        }
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

/** A stored value this app must not read (a PHP object whose HMAC does not verify). */
final class RefusedValue extends \RuntimeException
{
}

Handler::install();
