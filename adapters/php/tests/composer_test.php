<?php
// composer.json: the structure `composer install` from a path repository
// relies on (name, PHP >= 8.1, autoload "files" naming the adapter, no
// dependency). The install itself, from an empty app folder and offline,
// is integration/adapters_install_test.go's (Debian's composer).

declare(strict_types=1);

require __DIR__ . '/lib.php';

test('composer.json: name, php >= 8.1, no dependency, autoload files is the adapter', function (): void {
    $c = json_decode((string) file_get_contents(dirname(__DIR__) . '/composer.json'), true, 512, JSON_THROW_ON_ERROR);
    check_same('caddy-session/adapter', $c['name'] ?? null, 'name');
    check_same(['php' => '>=8.1'], $c['require'] ?? null, 'require: PHP alone');
    check_same(['files' => ['caddy-session.php']], $c['autoload'] ?? null, 'autoload');
    check(is_file(dirname(__DIR__) . '/' . $c['autoload']['files'][0]), 'the autoloaded file exists');
});

test('loaded twice (auto_prepend_file and Composer\'s autoload), the adapter installs once', function (): void {
    $r = request(hs256_token(['data' => ['a' => 1]]), "require " . var_export(adapter_file(), true) . ";\nsession_start(); \$_SESSION['a'] = 2;");
    check_same(200, $r['status'], "status (log: {$r['log']})");
    check_same(['X-Session-Set: {"a":2}'], update_headers($r), 'update headers');
});

run_tests();
