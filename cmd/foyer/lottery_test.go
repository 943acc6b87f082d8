package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// lotteryFile writes a draw of 30 members, changed by tamper, as JSON to a
// file and returns its path.
func lotteryFile(t *testing.T, tamper func(d *queue.Draw)) string {
	t.Helper()
	seed := sha256.Sum256([]byte("lottery test seed"))
	members := make([]string, 30)
	for i := range members {
		members[i] = fmt.Sprintf("fan-%02d", i)
	}
	c, err := queue.NewCommitment("final", seed[:], members, time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	d, err := queue.NewDraw(c, seed[:], members)
	if err != nil {
		t.Fatal(err)
	}
	tamper(&d)
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "draw.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLotteryVerify(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(d *queue.Draw)
		wantOut  string
		wantErr  error
		wantMsg  string
		wantCode int
	}{
		{"valid", func(*queue.Draw) {}, "ok: 30 members, order verified\n", nil, "", 0},
		{"two positions swapped", func(d *queue.Draw) { d.Order[0], d.Order[29] = d.Order[29], d.Order[0] },
			"", queue.ErrOrderMismatch, "queue: draw: order is not the shuffle of the seed: position 0 (0-based)", 1},
		{"tampered seed", func(d *queue.Draw) { d.Seed = strings.Repeat("ab", 32) },
			"", queue.ErrSeedMismatch, "queue: draw: seed does not match the commitment", 1},
		{"member removed", func(d *queue.Draw) { d.Order = d.Order[1:] },
			"", queue.ErrMembersMismatch, "the order has 29 members, the commitment 30", 1},
		{"wrong count", func(d *queue.Draw) { d.Members = 31 },
			"", queue.ErrMembersMismatch, "the order has 30 members, the commitment 31", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := lotteryFile(t, tt.tamper)
			out, _, err := runVenue("lottery", "verify", path)
			if out != tt.wantOut {
				t.Errorf("got stdout %q, want %q", out, tt.wantOut)
			}
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %q, want it to name %s and contain %q", err, path, tt.wantMsg)
			}
			if got := exitCode(err); got != tt.wantCode {
				t.Errorf("got exit code %d, want %d", got, tt.wantCode)
			}
		})
	}
}

func TestLotteryVerifyBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	valid, err := os.ReadFile(lotteryFile(t, func(*queue.Draw) {}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantMsg string
	}{
		{"missing", filepath.Join(dir, "absent.json"), "no such file"},
		{"not json", write("text.json", "hello"), "not a draw document"},
		{"unknown field", write("typo.json", `{"sead": "00"}`), `unknown field "sead"`},
		{"trailing data", write("two.json", string(valid)+"{}"), "data after the JSON object"},
		{"empty object", write("empty.json", "{}"), `queue: draw: malformed: unknown algorithm ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runVenue("lottery", "verify", tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantMsg)
			}
			if out != "" {
				t.Errorf("got stdout %q, want none", out)
			}
			if got := exitCode(err); got != 1 {
				t.Errorf("got exit code %d, want 1", got)
			}
		})
	}
}

func TestLotteryUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"no subcommand", []string{"lottery"}, 2},
		{"unknown subcommand", []string{"lottery", "draw", "x.json"}, 2},
		{"no file", []string{"lottery", "verify"}, 2},
		{"two files", []string{"lottery", "verify", "a.json", "b.json"}, 2},
		{"unknown flag", []string{"lottery", "verify", "--seed", "x", "a.json"}, 2},
		{"help", []string{"lottery", "verify", "-h"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runVenue(tt.args...)
			if err == nil {
				t.Fatal("got nil error, want a usage error")
			}
			if got := exitCode(err); got != tt.wantCode {
				t.Errorf("got exit code %d for %v, want %d", got, err, tt.wantCode)
			}
		})
	}
	_, _, err := runVenue("lottery", "verify", "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "foyer lottery verify FILE") {
		t.Errorf("usage text lacks foyer lottery verify FILE:\n%s", out.String())
	}
}
