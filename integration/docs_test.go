package integration

// Docs that cannot rot: every Caddyfile snippet a reader may copy from the
// README, Caddyfile.example and docs/*.md adapts with the built Caddy and
// is already as `caddy fmt` writes it.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A fence right after this comment is not a configuration (a syntax
// summary with <placeholders> and alternatives, a block with an elision);
// the comment says why.
var notAConfig = regexp.MustCompile(`^<!-- not a config: .+ -->$`)

type snippet struct {
	where string // file:line
	text  string
}

// docSnippets is every ```caddyfile fence of the docs and the whole of
// Caddyfile.example, less those marked as not a config.
func docSnippets(t *testing.T) (snippets []snippet, skipped int) {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			fence := strings.TrimSpace(lines[i])
			if fence != "```caddyfile" && fence != "```Caddyfile" {
				continue
			}
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
			start := i
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, strings.TrimPrefix(lines[i], indent))
			}
			if start > 0 && notAConfig.MatchString(strings.TrimSpace(lines[start-1])) {
				skipped++
				continue
			}
			snippets = append(snippets, snippet{where: filepath.Base(f) + ":" + strconv.Itoa(start+1), text: strings.Join(body, "\n") + "\n"})
		}
	}
	example, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	snippets = append(snippets, snippet{where: "Caddyfile.example", text: string(example)})
	return snippets, skipped
}

// Route-level directives: a snippet that starts with one is the inside of
// a site block. Any other snippet that is not a whole Caddyfile is the
// inside of a session block.
var siteDirectives = map[string]bool{
	"session": true, "handle": true, "handle_path": true, "route": true, "reverse_proxy": true,
	"php_fastcgi": true, "respond": true, "redir": true, "root": true, "file_server": true, "log": true,
}

// wrap makes s a whole Caddyfile.
func wrap(s string) string {
	first := ""
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			first = line
			break
		}
	}
	word := strings.Fields(first + " ")[0]
	switch {
	case first == "{" || strings.HasSuffix(first, "{") && (strings.Contains(word, ".") || strings.Contains(word, ":")) && !siteDirectives[word]:
		return s // global options or a site block: a whole Caddyfile
	case siteDirectives[word] || strings.HasPrefix(word, "@"):
		return "example.com {\n" + s + "}\n"
	default:
		secret := ""
		if !regexp.MustCompile(`(?m)^\s*secret\s`).MatchString(s) {
			secret = "secret {env.SESSION_SECRET}\n"
		}
		return "example.com {\nsession {\n" + secret + s + "}\nreverse_proxy 127.0.0.1:8000\n}\n"
	}
}

func TestDocSnippets(t *testing.T) {
	snippets, skipped := docSnippets(t)
	// The docs hold some twenty snippets: far fewer means the extraction
	// broke, not that the docs are fine.
	if len(snippets) < 15 {
		t.Fatalf("found %d Caddyfile snippets in the docs (%d marked not a config); the extraction is broken", len(snippets), skipped)
	}
	dir := t.TempDir()
	for i, s := range snippets {
		t.Run(s.where, func(t *testing.T) {
			raw := filepath.Join(dir, "raw"+strconv.Itoa(i))
			if err := os.WriteFile(raw, []byte(s.text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runCaddy(t, dir, nil, "fmt", raw)
			if err != nil {
				t.Fatalf("caddy fmt: %v\n%s", err, out)
			}
			if out != s.text {
				t.Errorf("not as caddy fmt writes it; caddy fmt gives:\n%s", out)
			}
			whole := filepath.Join(dir, "Caddyfile"+strconv.Itoa(i))
			if err := os.WriteFile(whole, []byte(wrap(s.text)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err = runCaddy(t, dir, nil, "adapt", "--adapter", "caddyfile", "--config", whole)
			if err != nil {
				t.Errorf("caddy adapt: %v\n%s\nadapted as:\n%s", err, out, wrap(s.text))
			}
		})
	}
}
