package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sessions",
		Short: "Manages the sessions of caddy-session's stores",
		Long: `
Commands for the sessions that the session handler keeps.

clear-expired removes the expired sessions from every store a config uses,
as Django's "manage.py clearsessions" does. The stores that need it (file,
db, and Django's file layout) also do it in the background every minute;
Redis and Django's cache expire sessions themselves.`,
		CobraFunc: func(cmd *cobra.Command) {
			clearCmd := &cobra.Command{
				Use:     "clear-expired --config <path> [--adapter <name>]",
				Short:   "Removes expired sessions from the stores of a config (Django's clearsessions)",
				Example: "caddy sessions clear-expired --config /etc/caddy/Caddyfile",
				RunE:    caddycmd.WrapCommandFuncForCobra(cmdClearExpired),
			}
			clearCmd.Flags().StringP("config", "c", "", "Configuration file")
			clearCmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.AddCommand(clearCmd)
		},
	})
}

func cmdClearExpired(fl caddycmd.Flags) (int, error) {
	cfg, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if len(cfg) == 0 {
		return caddy.ExitCodeFailedStartup, errors.New("no config: give --config (a Caddyfile or JSON)")
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("reading config: %w", err)
	}
	handlers := findSessionHandlers(root, nil)
	if len(handlers) == 0 {
		return caddy.ExitCodeFailedStartup, errors.New("the config has no session handler")
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	for i, raw := range handlers {
		var h Handler
		if err := json.Unmarshal(raw, &h); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("session handler %d: %w", i+1, err)
		}
		backend := storeName(h.StoreRaw) // before Provision, which drops the raw JSON
		if err := h.Provision(ctx); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("session handler %d: %w", i+1, err)
		}
		if h.purge == nil {
			fmt.Fprintf(os.Stdout, "session handler %d, store %s: nothing to clear, the store expires sessions itself\n", i+1, backend)
			_ = h.Cleanup()
			continue
		}
		n, err := h.purge(time.Now())
		_ = h.Cleanup()
		if err != nil {
			return caddy.ExitCodeFailedQuit, fmt.Errorf("session handler %d, store %s: clearing expired sessions: %w", i+1, backend, err)
		}
		fmt.Fprintf(os.Stdout, "session handler %d, store %s: removed %d expired sessions\n", i+1, backend, n)
	}
	return caddy.ExitCodeSuccess, nil
}

// findSessionHandlers returns every session handler's JSON in a config,
// wherever it sits (routes, subroutes, handle_errors).
func findSessionHandlers(v any, out []json.RawMessage) []json.RawMessage {
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == "session" {
			b, _ := json.Marshal(v)
			return append(out, b)
		}
		for _, e := range v {
			out = findSessionHandlers(e, out)
		}
	case []any:
		for _, e := range v {
			out = findSessionHandlers(e, out)
		}
	}
	return out
}

func storeName(raw json.RawMessage) string {
	var s struct {
		Backend string `json:"backend"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Backend == "" {
		return "file"
	}
	return s.Backend
}
