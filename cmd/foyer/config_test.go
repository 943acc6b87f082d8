package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validConfig = `listen: 127.0.0.1:8080
admin_listen: 127.0.0.1:9090
admin_token: secret-admin-token
store:
  kind: memory
events:
  - name: show
    origin: http://127.0.0.1:8081
    rate_per_second: 50
    session_duration: 10m
`

func TestConfigCheckNamesFieldAndLine(t *testing.T) {
	cases := []struct {
		name    string
		config  string
		env     map[string]string
		want    []string // substrings of the error
		wantErr bool
	}{
		{name: "valid", config: validConfig},
		{
			name:    "misspelt field",
			config:  strings.Replace(validConfig, "rate_per_second", "rate_per_secnd", 1),
			want:    []string{":9:", "events[0].rate_per_secnd", "unknown field", `did you mean "rate_per_second"`},
			wantErr: true,
		},
		{
			name:    "wrong type",
			config:  strings.Replace(validConfig, "rate_per_second: 50", "rate_per_second: fast", 1),
			want:    []string{":9:", "events[0].rate_per_second"},
			wantErr: true,
		},
		{
			name:    "negative rate",
			config:  strings.Replace(validConfig, "rate_per_second: 50", "rate_per_second: -3", 1),
			want:    []string{":9:", "events[0].rate_per_second", "between 0 and"},
			wantErr: true,
		},
		{
			name:    "bad duration",
			config:  strings.Replace(validConfig, "session_duration: 10m", "session_duration: ten", 1),
			want:    []string{":10:", "events[0].session_duration", "not a duration"},
			wantErr: true,
		},
		{
			name:    "bad origin",
			config:  strings.Replace(validConfig, "http://127.0.0.1:8081", "ftp://x", 1),
			want:    []string{":8:", "events[0].origin", "scheme"},
			wantErr: true,
		},
		{
			name:    "bad event name",
			config:  strings.Replace(validConfig, "name: show", "name: Big Show", 1),
			want:    []string{":7:", "events[0].name"},
			wantErr: true,
		},
		{
			name:    "unknown store",
			config:  strings.Replace(validConfig, "kind: memory", "kind: etcd", 1),
			want:    []string{":5:", "store.kind", "etcd"},
			wantErr: true,
		},
		{
			name:    "redis without secret",
			config:  strings.Replace(validConfig, "kind: memory", "kind: redis\n  redis:\n    addrs: [127.0.0.1:6379]", 1),
			want:    []string{"store.ticket_secret", "required"},
			wantErr: true,
		},
		{
			name:    "redis secret from env",
			config:  strings.Replace(validConfig, "kind: memory", "kind: redis\n  redis:\n    addrs: [127.0.0.1:6379]", 1),
			env:     map[string]string{"FOYER_TICKET_SECRET": strings.Repeat("s", 32)},
			wantErr: false,
		},
		{
			name:    "env store override is validated",
			config:  validConfig,
			env:     map[string]string{"FOYER_STORE": "nope"},
			want:    []string{"store.kind", "nope"},
			wantErr: true,
		},
		{
			name:    "no events",
			config:  strings.Split(validConfig, "events:")[0],
			want:    []string{"events", "at least one"},
			wantErr: true,
		},
		{
			name:    "missing key file",
			config:  validConfig + "tokens:\n  signing_key: /nonexistent/key.jwk\n",
			want:    []string{"tokens.signing_key", "/nonexistent/key.jwk"},
			wantErr: true,
		},
		{
			name:    "not yaml",
			config:  "listen: [unclosed",
			want:    []string{"foyer.yaml"},
			wantErr: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "foyer.yaml")
			if err := os.WriteFile(path, []byte(c.config), 0o600); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string { return c.env[k] }
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"config", "check", path}, getenv, &stdout, &stderr)
			if !c.wantErr {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if !strings.Contains(stdout.String(), "ok") {
					t.Errorf("stdout: got %q, want an ok line", stdout.String())
				}
				return
			}
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if exitCode(err) != 1 {
				t.Errorf("exit code: got %d, want 1", exitCode(err))
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"version"}, 0, "foyer "},
		{[]string{"help"}, 0, "foyer serve"},
		{[]string{}, 2, ""},
		{[]string{"frobnicate"}, 2, ""},
		{[]string{"config"}, 2, ""},
		{[]string{"serve", "--nope"}, 2, ""},
		{[]string{"serve", "extra"}, 2, ""},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, func(string) string { return "" }, &stdout, &stderr)
		code := 0
		if err != nil {
			code = exitCode(err)
		}
		if code != c.wantCode || !strings.Contains(stdout.String(), c.wantOut) {
			t.Errorf("foyer %v: exit %d, stdout %q; want exit %d and %q", c.args, code, stdout.String(), c.wantCode, c.wantOut)
		}
	}
}

func TestKeysGenerate(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "k.jwk")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"keys", "generate", "--out", out}, os.Getenv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(out)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want mode 0600", err, info.Mode())
	}
	if !strings.Contains(stdout.String(), `"keys"`) || strings.Contains(stdout.String(), `"d"`) {
		t.Errorf("stdout should be the public JWKS only: %s", stdout.String())
	}
	// The key it wrote is a usable signing key.
	cfg := validConfig + "tokens:\n  signing_key: " + out + "\n"
	path := filepath.Join(dir, "foyer.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	if err := run(context.Background(), []string{"config", "check", path}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Errorf("config with the generated key: %v", err)
	}
	// It never overwrites a key.
	if err := run(context.Background(), []string{"keys", "generate", "--out", out}, os.Getenv, &stdout, &stderr); err == nil {
		t.Error("overwrote an existing key file")
	}
}
