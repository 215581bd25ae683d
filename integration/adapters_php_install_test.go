package integration

// The PHP adapter installs like a package, as docs/adapters.md says: from
// an empty app folder, `composer install` with adapters/php as a path
// repository and no package index (Debian's composer, offline), then the
// app's `require 'vendor/autoload.php'` loads the adapter, which takes
// over the app's sessions.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdapterPHPComposerInstall(t *testing.T) {
	for _, tool := range []string{"composer", "php"} {
		if _, err := exec.LookPath(tool); err != nil {
			missingTool(t, tool, "apt-get install -y composer php-cli")
		}
	}
	app := t.TempDir()
	adapter := adaptersDir(t, "php")
	// packagist.org false: nothing may come from a package index.
	composerJSON, err := json.MarshalIndent(map[string]any{
		"repositories": []any{
			map[string]string{"type": "path", "url": adapter},
			map[string]bool{"packagist.org": false},
		},
		"require": map[string]string{"caddy-session/adapter": "*"},
	}, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "composer.json"), composerJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	// Composer's home and cache in the test's own folders; root is allowed
	// (the tests may run as root); no network.
	t.Setenv("COMPOSER_HOME", t.TempDir())
	t.Setenv("COMPOSER_CACHE_DIR", t.TempDir())
	t.Setenv("COMPOSER_ALLOW_SUPERUSER", "1")
	t.Setenv("COMPOSER_DISABLE_NETWORK", "1")
	installRun(t, app, "composer", "install", "--no-interaction", "--no-progress")

	// The adapter is loaded by the autoloader, from the installed package.
	got := installRun(t, app, "php", "-r", `require 'vendor/autoload.php';
echo realpath((new ReflectionClass(CaddySession\Handler::class))->getFileName());`)
	want, err := filepath.EvalSymlinks(filepath.Join(adapter, "caddy-session.php"))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("CaddySession\\Handler loaded from %q, want %q", got, want)
	}
	// And it has taken over the sessions: a session_start() without
	// Caddy's token is refused, as behind Caddy.
	t.Setenv("SESSION_SECRET", strings.Repeat("s", 32))
	got = installRun(t, app, "php", "-r", `require 'vendor/autoload.php';
session_start();
echo "session started without a token\n";`)
	if got != "missing or invalid session token" {
		t.Errorf("session_start() without a token in the composer-installed app printed %q, want the adapter's refusal", got)
	}
}
