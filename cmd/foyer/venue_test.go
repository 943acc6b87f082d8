package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foyerhq/foyer/seating"
)

// runVenue runs foyer with args and returns its stdout, stderr and error.
func runVenue(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVenueGenerateStadium(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stadium.json")
	stdout, stderr, err := runVenue("venue", "generate", "--seats", "100000", "--stands", "40", "--seed", "7", "--out", path)
	if err != nil {
		t.Fatalf("foyer venue generate: %v\n%s", err, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout with --out: got %q, want nothing", stdout)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := seating.ParseVenue(b)
	if err != nil {
		t.Fatalf("the written venue: %v", err)
	}
	if got, want := v.SeatCount(), 100_000; got != want {
		t.Errorf("seats: got %d, want %d", got, want)
	}
	if got, want := len(v.Stands), 40; got != want {
		t.Errorf("stands: got %d, want %d", got, want)
	}
	if got, want := len(v.Tiers), 3; got != want {
		t.Errorf("tiers: got %d, want %d", got, want)
	}
	wantSummary := `venue "Foyer Arena" written to ` + path + `: 100000 seats (520 blocked) in 40 stands, 3 tiers, version ` + v.Version() + "\n"
	if stderr != wantSummary {
		t.Errorf("summary:\n got %q\nwant %q", stderr, wantSummary)
	}

	// The same flags to stdout give the same bytes; another seed does not.
	again, _, err := runVenue("venue", "generate", "--stands", "40", "--seats", "100000", "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	if again != string(b) {
		t.Error("the same flags gave another venue")
	}
	other, _, err := runVenue("venue", "generate", "--stands", "40", "--seats", "100000", "--seed", "8")
	if err != nil {
		t.Fatal(err)
	}
	if other == string(b) {
		t.Error("another seed gave the same venue")
	}
}

func TestVenueGenerateFlags(t *testing.T) {
	cases := []struct {
		name        string
		args        []string
		wantName    string
		wantStands  int
		wantTiers   int
		wantBlocked int
	}{
		{"defaults", []string{"--seats", "5000"}, "Foyer Arena", 2, 3, 2 * 13},
		{"all flags", []string{"--seats", "1000", "--stands", "4", "--tiers", "5", "--seed", "-3", "--name", "Town Hall", "--blocked-per-mille", "20"}, "Town Hall", 4, 5, 4 * 5},
		{"none blocked", []string{"--seats", "1000", "--blocked-per-mille", "0"}, "Foyer Arena", 1, 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, err := runVenue(append([]string{"venue", "generate"}, c.args...)...)
			if err != nil {
				t.Fatalf("got %v\n%s", err, stderr)
			}
			v, err := seating.ParseVenue([]byte(stdout))
			if err != nil {
				t.Fatal(err)
			}
			blocked := 0
			for _, l := range v.Layouts() {
				blocked += len(l.Blocked)
			}
			if v.Name != c.wantName || len(v.Stands) != c.wantStands || len(v.Tiers) != c.wantTiers || blocked != c.wantBlocked {
				t.Errorf("got %q, %d stands, %d tiers, %d blocked; want %q, %d, %d, %d",
					v.Name, len(v.Stands), len(v.Tiers), blocked, c.wantName, c.wantStands, c.wantTiers, c.wantBlocked)
			}
		})
	}
}

func TestVenueGenerateUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no subcommand", []string{"venue"}, "usage: foyer venue generate"},
		{"unknown subcommand", []string{"venue", "draw"}, "usage: foyer venue generate"},
		{"no seats", []string{"venue", "generate"}, "--seats is required"},
		{"unknown flag", []string{"venue", "generate", "--seats", "10", "--rows", "3"}, "flag provided but not defined: -rows"},
		{"not a number", []string{"venue", "generate", "--seats", "many"}, `invalid value "many" for flag -seats`},
		{"negative seats", []string{"venue", "generate", "--seats", "-5"}, "seats must be between 1"},
		{"too many seats", []string{"venue", "generate", "--seats", "1000001"}, "seats must be between 1"},
		{"more stands than seats", []string{"venue", "generate", "--seats", "10", "--stands", "11"}, "every stand needs a seat"},
		{"too many stands", []string{"venue", "generate", "--seats", "100000", "--stands", "2000"}, "stands must be between 1"},
		{"zero tiers", []string{"venue", "generate", "--seats", "10", "--tiers", "0"}, "--tiers must be at least 1"},
		{"too many tiers", []string{"venue", "generate", "--seats", "10", "--tiers", "300"}, "tiers must be between 1"},
		{"negative blocked", []string{"venue", "generate", "--seats", "10", "--blocked-per-mille", "-1"}, "must not be negative"},
		{"extra argument", []string{"venue", "generate", "--seats", "10", "out.json"}, `unexpected argument "out.json"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, _, err := runVenue(c.args...)
			if err == nil {
				t.Fatal("got no error, want a usage error")
			}
			if got := exitCode(err); got != 2 {
				t.Errorf("exit code: got %d, want 2 (%v)", got, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error: got %q, want it to contain %q", err, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout: got %d bytes, want none", len(stdout))
			}
		})
	}
}

func TestVenueGenerateUnwritableOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "missing", "venue.json")
	_, _, err := runVenue("venue", "generate", "--seats", "10", "--out", out)
	if err == nil || exitCode(err) != 1 {
		t.Errorf("got %v, want an error with exit code 1", err)
	}
}
