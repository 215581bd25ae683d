package caddysession

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLayers holds the three layers apart (issue 15): session/ (the model
// and its stores) knows neither Caddy, nor HTTP, nor the wire format of
// headers/; headers/ knows no Caddy and no store. It checks every package
// each one pulls in, not only its own imports.
func TestLayers(t *testing.T) {
	const mod = "github.com/caddy-session/caddy-session/"
	for _, tc := range []struct {
		pkgs      string
		forbidden []string // import path prefixes
	}{
		{"./session/...", []string{"github.com/caddyserver/", "net/http", mod + "headers", mod + "caddymodule"}},
		{"./headers/...", []string{"github.com/caddyserver/", mod + "caddymodule", mod + "session/"}},
	} {
		t.Run(tc.pkgs, func(t *testing.T) {
			for _, dep := range goListDeps(t, tc.pkgs) {
				for _, f := range tc.forbidden {
					if under(dep, f) {
						t.Errorf("%s depends on %s", tc.pkgs, dep)
					}
				}
			}
		})
	}
}

// TestLeanBuild keeps the SQL drivers out of the default build (issue 16):
// what `--with github.com/caddy-session/caddy-session` adds to Caddy (this
// package, and through it caddymodule) must not pull in pgx, modernc's
// SQLite, go-sql-driver/mysql or session/dbstore; package sqlstores adds
// them. The packages are listed with the build tags xcaddy builds Caddy
// with, which keep Caddy's own optional pgx and MySQL out.
func TestLeanBuild(t *testing.T) {
	const mod = "github.com/caddy-session/caddy-session/"
	drivers := []string{"github.com/jackc/pgx/v5", "modernc.org/sqlite", "github.com/go-sql-driver/mysql", mod + "session/dbstore", mod + "sqlstores"}
	const tags = "-tags=nobadger,nomysql,nopgx"
	lean := goListDeps(t, tags, ".")
	for _, d := range drivers {
		for _, dep := range lean {
			if under(dep, d) {
				t.Errorf("the default build (package %s) depends on %s; the SQL drivers belong in package sqlstores", mod[:len(mod)-1], dep)
				break
			}
		}
	}
	// The full build has each of them, so the list above names them right.
	full := goListDeps(t, tags, ".", "./sqlstores")
	for _, d := range drivers {
		found := false
		for _, dep := range full {
			found = found || under(dep, d)
		}
		if !found {
			t.Errorf("the full build (with sqlstores) does not depend on %s", d)
		}
	}
}

// goListDeps is `go list -deps args...`: every package they pull in.
func goListDeps(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command(goTool(), append([]string{"list", "-deps"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", strings.Join(args, " "), err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s listed nothing", strings.Join(args, " "))
	}
	return deps
}

// under reports whether package pkg is prefix or below it (a prefix
// ending in "/" matches any path that starts with it).
func under(pkg, prefix string) bool {
	return pkg == prefix || strings.HasPrefix(pkg, prefix) && (strings.HasSuffix(prefix, "/") || strings.HasPrefix(pkg, prefix+"/"))
}

// goTool is the go command that runs this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
