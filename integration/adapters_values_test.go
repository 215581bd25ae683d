package integration

// Values that are not JSON, end to end (docs/adapters.md, "Values that are
// not JSON"): what the Flask example stores as bytes, a tuple, a datetime,
// a UUID and Markup comes back to Flask through Caddy exactly as Flask's
// own cookie session gives it back, and to the Express example as a
// Buffer, an array, a Date and strings; what Express stores as a Buffer and
// a Date comes back to Express as such, and to Flask as bytes and an aware
// datetime. The module itself only carries JSON.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// typedOf is GET <base>/typed: the example's [type name, value] of session["typed"].
func typedOf(t *testing.T, client *http.Client, base string) any {
	t.Helper()
	resp, body := send(t, client, "GET", base+"/typed", "", nil)
	assertNoSessionHeaders(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/typed: status %d; body %s", base, resp.StatusCode, body)
	}
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET %s/typed: %v in %s", base, err, body)
	}
	return got
}

func putTyped(t *testing.T, client *http.Client, base string) {
	t.Helper()
	resp, body := send(t, client, "POST", base+"/typed", "", nil)
	assertNoSessionHeaders(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/typed: status %d; body %s", base, resp.StatusCode, body)
	}
}

// described parses a description literal written in the test.
func described(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("bad description literal: %v", err)
	}
	return v
}

func TestAdapterValues(t *testing.T) {
	flaskWrote := described(t, `["dict", {
		"bytes": ["bytes", "00ff62696e"],
		"tuple": ["tuple", [["int", 1], ["str", "two"]]],
		"when": ["datetime", "2026-12-05T07:00:00+00:00"],
		"uuid": ["UUID", "9f0c3c1e-4d2a-4b7e-8f00-0123456789ab"],
		"markup": ["Markup", "<b>bold</b>"]}]`)

	t.Run("Flask's own cookie session, the reference", func(t *testing.T) {
		c := startCaddy(t, "", startFlaskExample(t, false))
		client := newClient(t)
		putTyped(t, client, c.URL)
		if got := typedOf(t, client, c.URL); !reflect.DeepEqual(got, flaskWrote) {
			t.Errorf("native Flask reads back\n got %v\nwant %v", got, flaskWrote)
		}
	})

	flask, node := startFlaskExample(t, true), startNodeExample(t, true)
	c := startCaddy(t, "", fmt.Sprintf("%s\nhandle_path /flask/* {\n\t%s\n}\nhandle_path /node/* {\n\t%s\n}",
		adapterSessionConfig(testredis.Start(t)), flask, node))

	t.Run("Flask writes, Flask and Node read", func(t *testing.T) {
		client := newClient(t)
		putTyped(t, client, c.URL+"/flask")
		if got := typedOf(t, client, c.URL+"/flask"); !reflect.DeepEqual(got, flaskWrote) {
			t.Errorf("Flask reads back through Caddy\n got %v\nwant %v (as Flask's own session gives)", got, flaskWrote)
		}
		want := described(t, `["Object", {
			"bytes": ["Buffer", "00ff62696e"],
			"tuple": ["Array", [["number", 1], ["string", "two"]]],
			"when": ["Date", "2026-12-05T07:00:00.000Z"],
			"uuid": ["string", "9f0c3c1e-4d2a-4b7e-8f00-0123456789ab"],
			"markup": ["string", "<b>bold</b>"]}]`)
		if got := typedOf(t, client, c.URL+"/node"); !reflect.DeepEqual(got, want) {
			t.Errorf("Node reads what Flask wrote\n got %v\nwant %v", got, want)
		}
		// Reading left every value as it was: Flask reads the same again.
		if got := typedOf(t, client, c.URL+"/flask"); !reflect.DeepEqual(got, flaskWrote) {
			t.Errorf("Flask reads back after Node read\n got %v\nwant %v", got, flaskWrote)
		}
	})

	t.Run("Node writes, Node and Flask read", func(t *testing.T) {
		client := newClient(t)
		putTyped(t, client, c.URL+"/node")
		want := described(t, `["Object", {
			"bytes": ["Buffer", "00ff62696e"],
			"list": ["Array", [["number", 1], ["string", "two"]]],
			"when": ["Date", "2026-12-05T07:00:00.123Z"]}]`)
		if got := typedOf(t, client, c.URL+"/node"); !reflect.DeepEqual(got, want) {
			t.Errorf("Node reads back through Caddy\n got %v\nwant %v", got, want)
		}
		want = described(t, `["dict", {
			"bytes": ["bytes", "00ff62696e"],
			"list": ["list", [["int", 1], ["str", "two"]]],
			"when": ["datetime", "2026-12-05T07:00:00.123000+00:00"]}]`)
		if got := typedOf(t, client, c.URL+"/flask"); !reflect.DeepEqual(got, want) {
			t.Errorf("Flask reads what Node wrote\n got %v\nwant %v", got, want)
		}
	})
}
