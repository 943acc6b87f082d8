package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/foyerhq/foyer/seating"
)

// runVenueGenerate writes a generated venue as JSON (to --out, or stdout)
// and a one-line summary of it to stderr.
func runVenueGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("venue generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg seating.GenerateConfig
	fs.IntVar(&cfg.Seats, "seats", 0, "number of seats in all (required)")
	fs.IntVar(&cfg.Stands, "stands", 0, "number of stands around the pitch; 0 for one per 2,500 seats")
	fs.IntVar(&cfg.Tiers, "tiers", 3, "number of price tiers, front rows dearest")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the blocked seats; the same flags give the same venue")
	fs.StringVar(&cfg.Name, "name", "Foyer Arena", "the venue's name")
	fs.IntVar(&cfg.BlockedPerMille, "blocked-per-mille", 5, "seats blocked from sale, per thousand (0 for none)")
	out := fs.String("out", "", "write the venue to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("venue generate: unexpected argument %q", fs.Arg(0))}
	}
	if cfg.Seats == 0 {
		fs.Usage()
		return usageError{"venue generate: --seats is required"}
	}
	// The flags show their defaults, so a zero is meant: where the config
	// reads 0 as "the default", --tiers 0 is a mistake and
	// --blocked-per-mille 0 means none.
	if cfg.Tiers < 1 {
		return usageError{fmt.Sprintf("venue generate: --tiers must be at least 1, got %d", cfg.Tiers)}
	}
	switch {
	case cfg.BlockedPerMille < 0:
		return usageError{fmt.Sprintf("venue generate: --blocked-per-mille must not be negative, got %d", cfg.BlockedPerMille)}
	case cfg.BlockedPerMille == 0:
		cfg.BlockedPerMille = -1
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	v, err := seating.Generate(cfg)
	if err != nil {
		return err
	}
	b, err := seating.MarshalVenue(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out == "" {
		if _, err := stdout.Write(b); err != nil {
			return err
		}
	} else if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("venue generate: %w", err)
	}
	blocked := 0
	for _, l := range v.Layouts() {
		blocked += len(l.Blocked)
	}
	where := ""
	if *out != "" {
		where = " written to " + *out
	}
	fmt.Fprintf(stderr, "venue %q%s: %d seats (%d blocked) in %d stands, %d tiers, version %s\n",
		v.Name, where, v.SeatCount(), blocked, len(v.Stands), len(v.Tiers), v.Version())
	return nil
}
