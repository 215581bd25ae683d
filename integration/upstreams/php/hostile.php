<?php
// Hostile upstream for integration/reliability_smuggling_test.go, under
// php-fpm behind php_fastcgi. Not an example app: a puppet.
//
//   ?do=echo            JSON {"headers": [[key, value], ...], "trailers": []}:
//                       every HTTP_* server variable as CGI folded it
//                       (X_Session and X-Session both become HTTP_X_SESSION).
//                       FastCGI carries no request trailers.
//   ?do=respond&spec=S  S is base64url JSON {"status": 200, "headers":
//                       [[name, value], ...]}: sends exactly those headers
//                       (header(..., false), so duplicates stay). PHP 8.2
//                       under FastCGI can send neither trailers nor a 103.

declare(strict_types=1);

file_get_contents('php://input');
$do = (string) ($_GET['do'] ?? '');

if ($do === 'echo') {
    $seen = [];
    foreach ($_SERVER as $k => $v) {
        if (is_string($k) && str_starts_with($k, 'HTTP_') && is_string($v)) {
            $seen[] = [$k, $v];
        }
    }
    header('Content-Type: application/json');
    echo json_encode(['headers' => $seen, 'trailers' => []]);
    exit;
}

if ($do === 'respond') {
    $spec = json_decode((string) base64_decode(strtr((string) ($_GET['spec'] ?? ''), '-_', '+/')), true);
    http_response_code((int) $spec['status']);
    foreach ($spec['headers'] as [$name, $value]) {
        header("$name: $value", false);
    }
    header('Content-Type: text/plain');
    echo "hostile upstream\n";
    exit;
}

http_response_code(404);
