package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
Redis and Django's cache expire sessions themselves.

rekey seals every session stored by the handlers of a config that have
encrypt again under the current key: after a rotation (the old key in
previous_keys), or to finish enabling encrypt (accept_plaintext). It runs
beside the live Caddy, one atomic step per session, and reports how many
sessions it changed; run it again after an interruption, it only reads
what is already done.

The other commands talk to the running Caddy's admin endpoint (as "caddy
reload" does: --address, or the admin address of --config, or
localhost:2019) and need a session handler with user_key:

  handlers   lists the handlers the commands can address (--handler)
  list       lists a user's sessions: sid, created, last modified, expiry
  count      counts a user's sessions
  revoke     ends one session of a user (--sid) or all of them
  purge      removes expired sessions now (the running config's stores)`,
		CobraFunc: func(cmd *cobra.Command) {
			// The commands that open a config's stores themselves.
			for _, sub := range []struct {
				use, short, example string
				run                 func(caddycmd.Flags) (int, error)
			}{
				{"clear-expired --config <path> [--adapter <name>]", "Removes expired sessions from the stores of a config (Django's clearsessions)", "caddy sessions clear-expired --config /etc/caddy/Caddyfile", cmdClearExpired},
				{"rekey --config <path> [--adapter <name>]", "Seals every stored session again under the current encrypt key (after a rotation, or to finish enabling encrypt)", "caddy sessions rekey --config /etc/caddy/Caddyfile", cmdRekey},
			} {
				c := &cobra.Command{
					Use:     sub.use,
					Short:   sub.short,
					Example: sub.example,
					RunE:    caddycmd.WrapCommandFuncForCobra(sub.run),
				}
				c.Flags().StringP("config", "c", "", "Configuration file")
				c.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
				cmd.AddCommand(c)
			}
			for _, sub := range []struct {
				use, short, example string
				user, sid           bool
				run                 func(caddycmd.Flags) (int, error)
			}{
				{"handlers", "Lists the session handlers with user_key in the running config", "caddy sessions handlers", false, false, cmdHandlers},
				{"list", "Lists a user's sessions (sid, created, last modified, expiry)", "caddy sessions list --user 42", true, false, cmdList},
				{"count", "Counts a user's sessions", "caddy sessions count --user 42", true, false, cmdCount},
				{"revoke", "Ends one session of a user (--sid) or all of them (log out everywhere)", "caddy sessions revoke --user 42\ncaddy sessions revoke --user 42 --sid 3q2-7wEjlXb1TxZ9ZQkB5w", true, true, cmdRevoke},
				{"purge", "Removes expired sessions now, through the running Caddy", "caddy sessions purge", false, false, cmdPurge},
			} {
				c := &cobra.Command{
					Use:     sub.use,
					Short:   sub.short,
					Example: sub.example,
					RunE:    caddycmd.WrapCommandFuncForCobra(sub.run),
				}
				if sub.user {
					c.Flags().StringP("user", "u", "", "The user: the value of the handler's user_key")
				}
				if sub.sid {
					c.Flags().String("sid", "", "The session's sid (from list, or the token's sid claim)")
				}
				c.Flags().String("handler", "", "The handler's cookie_name, when several have user_key")
				c.Flags().String("address", "", "The admin API's address (default: from --config, or localhost:2019)")
				c.Flags().StringP("config", "c", "", "Configuration file, to find the admin address")
				c.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
				cmd.AddCommand(c)
			}
		},
	})
}

func cmdClearExpired(fl caddycmd.Flags) (int, error) {
	handlers, err := configHandlers(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
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

// configHandlers are the session handlers' JSON in the config that
// --config and --adapter name, for the commands that open their stores
// (clear-expired, rekey).
func configHandlers(fl caddycmd.Flags) ([]json.RawMessage, error) {
	cfg, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return nil, err
	}
	if len(cfg) == 0 {
		return nil, errors.New("no config: give --config (a Caddyfile or JSON)")
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return findSessionHandlers(root, nil), nil
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

// adminCall sends one request to the running Caddy's admin API and decodes
// its JSON answer into out; an error status is an error with the API's
// message.
func adminCall(fl caddycmd.Flags, method, path string, out any) error {
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
	if err != nil {
		return fmt.Errorf("finding the admin API: %w", err)
	}
	if h := fl.String("handler"); h != "" {
		path += "?handler=" + url.QueryEscape(h)
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, path, nil, nil)
	if err != nil {
		return err // AdminAPIRequest names the status and the API's message
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	return nil
}

func userPath(fl caddycmd.Flags) (string, error) {
	user := fl.String("user")
	if user == "" {
		return "", errors.New("--user: required (the value of the handler's user_key, e.g. 42)")
	}
	return "/sessions/users/" + url.PathEscape(user), nil
}

// printJSON writes v indented to stdout.
func printJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := os.Stdout.Write(buf.Bytes())
	return err
}

func cmdHandlers(fl caddycmd.Flags) (int, error) {
	var out any
	if err := adminCall(fl, http.MethodGet, "/sessions/handlers", &out); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, printJSON(out)
}

func cmdList(fl caddycmd.Flags) (int, error) {
	path, err := userPath(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	var out any
	if err := adminCall(fl, http.MethodGet, path, &out); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, printJSON(out)
}

func cmdCount(fl caddycmd.Flags) (int, error) {
	path, err := userPath(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	var out struct {
		Count int `json:"count"`
	}
	if err := adminCall(fl, http.MethodGet, path+"/count", &out); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Println(out.Count)
	return caddy.ExitCodeSuccess, nil
}

func cmdRevoke(fl caddycmd.Flags) (int, error) {
	path, err := userPath(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if sid := fl.String("sid"); sid != "" {
		path += "/" + url.PathEscape(sid)
	}
	var out struct {
		Revoked int `json:"revoked"`
	}
	if err := adminCall(fl, http.MethodDelete, path, &out); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Printf("revoked %d sessions of user %s\n", out.Revoked, fl.String("user"))
	return caddy.ExitCodeSuccess, nil
}

func cmdPurge(fl caddycmd.Flags) (int, error) {
	var out any
	if err := adminCall(fl, http.MethodPost, "/sessions/purge", &out); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, printJSON(out)
}
