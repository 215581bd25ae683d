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
			out, err := exec.Command(goTool(), "list", "-deps", tc.pkgs).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tc.pkgs, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatalf("go list -deps %s listed nothing", tc.pkgs)
			}
			for _, dep := range deps {
				for _, f := range tc.forbidden {
					if dep == f || strings.HasPrefix(dep, f) && (strings.HasSuffix(f, "/") || strings.HasPrefix(dep, f+"/")) {
						t.Errorf("%s depends on %s", tc.pkgs, dep)
					}
				}
			}
		})
	}
}

// goTool is the go command that runs this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
