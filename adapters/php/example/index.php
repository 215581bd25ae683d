<?php
// A small legacy app written for PHP's own sessions and nothing else. It
// runs unchanged on PHP's files sessions and behind Caddy's `session`
// handler: the only difference is the adapter line in the php-fpm pool,
//     php_admin_value[auto_prepend_file] = .../adapters/php/caddy-session.php
//
//   GET  /            count visits: {"visits": n, "user": name|null}
//   POST /login       user=<name>[&remember=1]: new session id, 302 to /;
//                     remember keeps the cookie for 30 days
//   POST /logout      session_destroy(), 302 to /
//   GET  /put?k=&v=   $_SESSION[k] = v (an integer)
//   POST /set         merge a JSON object into $_SESSION
//   GET  /dump        $_SESSION as JSON
//   GET  /late        writes 64 KiB of output, then changes the session
//   GET  /bad         stores a closure in the session, beside a plain key

declare(strict_types=1);

const REMEMBER_SECONDS = 30 * 86400;

function json(mixed $v): void
{
    header('Content-Type: application/json');
    echo json_encode($v, JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
}

$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';

switch ("$method $path") {
    case 'GET /':
        session_start();
        $_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
        json(['visits' => $_SESSION['visits'], 'user' => $_SESSION['user'] ?? null]);
        break;

    case 'POST /login':
        $user = (string) ($_POST['user'] ?? '');
        if ($user === '') {
            http_response_code(400);
            json(['error' => 'user is required']);
            break;
        }
        if (!empty($_POST['remember'])) {
            session_set_cookie_params(['lifetime' => REMEMBER_SECONDS]);
        }
        session_start();
        session_regenerate_id(true); // a session id fixed before login is worthless after it
        $_SESSION['user'] = $user;
        header('Location: /', true, 302);
        break;

    case 'POST /logout':
        // The manual's logout (session_destroy's example).
        session_start();
        $_SESSION = [];
        if (ini_get('session.use_cookies')) {
            $p = session_get_cookie_params();
            setcookie(session_name(), '', time() - 42000, $p['path'], $p['domain'], $p['secure'], $p['httponly']);
        }
        session_destroy();
        header('Location: /', true, 302);
        break;

    case 'GET /put':
        session_start();
        $_SESSION[(string) ($_GET['k'] ?? 'k')] = (int) ($_GET['v'] ?? 1);
        json(['ok' => true]);
        break;

    case 'POST /set':
        $changes = json_decode((string) file_get_contents('php://input'), true);
        if (!is_array($changes)) {
            http_response_code(400);
            json(['error' => 'want a JSON object']);
            break;
        }
        session_start();
        foreach ($changes as $k => $v) {
            $_SESSION[$k] = $v;
        }
        json(['ok' => true]);
        break;

    case 'GET /dump':
        session_start();
        json((object) $_SESSION);
        break;

    case 'GET /late':
        session_start();
        header('Content-Type: text/plain');
        echo str_repeat("late output\n", intdiv(64 * 1024, 12));
        $_SESSION['late'] = 'written after output';
        break;

    case 'GET /bad':
        session_start();
        $_SESSION['plain'] = 'kept only if the session is saved';
        $_SESSION['when'] = static fn (): int => 0; // a closure: no session can keep it
        json(['ok' => true]);
        break;

    default:
        http_response_code(404);
        json(['error' => 'not found']);
}
