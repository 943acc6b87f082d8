// Command foyer is Foyer's one binary: the edge proxy and waiting room
// (serve), configuration checks, and key generation. Run foyer help for the
// commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "foyer:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errReported is returned when the error was already printed in full.
var errReported = errors.New("reported")

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `foyer — a virtual waiting room and traffic-shaping edge proxy

Usage:
  foyer serve [--config FILE] [--listen ADDR] [--admin-listen ADDR] [--seating-listen ADDR]
        the edge proxy and its admin listener; without --config, a demo on embedded defaults
  foyer seating --config FILE [--seating-listen ADDR] [--admin-listen ADDR]
        the seat-lock service alone, with the config's seating, store and tokens sections
  foyer loadtest --target URL --event NAME --fans N --arrival DURATION --duration DURATION
        [--scenario NAME] [--json FILE] [--report FILE.html]
        the surge simulator against a running deployment (foyer loadtest -h for every flag)
  foyer rehearse --scenario NAME [--redis ADDR] [--fans N] [--rate R] [--json FILE] [--report FILE.html] [--timeline FILE.csv]
        a whole deployment in this process (proxy and seating) and a scenario of configs/scenarios against it
  foyer config check FILE
        validate a configuration file; errors name the field and line
  foyer keys generate [--out FILE] [--jwks-out FILE]
        a new Ed25519 signing key (private JWK) and its public JWKS
  foyer lottery verify FILE
        check a published pre-queue draw (seed, membership snapshot and order) against its commitment
  foyer venue generate --seats N [--stands S] [--tiers T] [--seed X] [--name NAME] [--out FILE]
        a venue layout (stands, rows, seats, price tiers) as JSON, and a summary on stderr
  foyer version
        print the version

Environment: FOYER_LISTEN, FOYER_ADMIN_LISTEN, FOYER_SEATING_LISTEN, FOYER_ADMIN_TOKEN,
FOYER_STORE, FOYER_REDIS_ADDRS, FOYER_REDIS_PASSWORD, FOYER_TICKET_SECRET,
FOYER_SECURE_COOKIES override the configuration file; flags override both.
`

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "config":
		if len(args) != 3 || args[1] != "check" {
			return usageError{"usage: foyer config check FILE"}
		}
		return runConfigCheck(args[2], getenv, stdout)
	case "keys":
		if len(args) < 2 || args[1] != "generate" {
			return usageError{"usage: foyer keys generate [--out FILE]"}
		}
		return runKeysGenerate(args[2:], stdout, stderr)
	case "seating":
		return runSeating(ctx, args[1:], getenv, stdout, stderr)
	case "loadtest":
		return runLoadtest(ctx, args[1:], stdout, stderr)
	case "rehearse":
		return runRehearse(ctx, args[1:], stdout, stderr)
	case "lottery":
		if len(args) < 2 || args[1] != "verify" {
			return usageError{"usage: foyer lottery verify FILE"}
		}
		return runLotteryVerify(args[2:], stdout, stderr)
	case "venue":
		if len(args) < 2 || args[1] != "generate" {
			return usageError{"usage: foyer venue generate --seats N [--stands S] [--out FILE]"}
		}
		return runVenueGenerate(args[2:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "foyer", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// runConfigCheck validates a configuration file: its proxy part when it
// has events (or nothing else), its seating part when it has one.
func runConfigCheck(path string, getenv func(string) string, stdout io.Writer) error {
	c, lines, err := readConfig(path)
	if err != nil {
		return err
	}
	if err := applyEnv(c, getenv); err != nil {
		return err
	}
	c.defaults()
	var parts []string
	if len(c.Events) > 0 || len(c.Seating.Events) == 0 {
		if err := c.validate(); err != nil {
			return locate(err, path, lines)
		}
		if _, err := loadKeys(c); err != nil {
			return locate(err, path, lines)
		}
		if pc, err := c.proxyConfig(); err != nil {
			return locate(err, path, lines)
		} else if err := loadEventFiles(c, &pc); err != nil {
			return locate(err, path, lines)
		}
		if _, _, err := loadTicketSigner(c); err != nil {
			return locate(err, path, lines)
		}
		parts = append(parts, fmt.Sprintf("%d events", len(c.Events)))
	}
	if len(c.Seating.Events) > 0 {
		if err := c.validateSeating(); err != nil {
			return locate(err, path, lines)
		}
		if _, err := seatingTokens(c); err != nil {
			return locate(err, path, lines)
		}
		if _, err := loadSeatingEvents(c); err != nil {
			return locate(err, path, lines)
		}
		parts = append(parts, fmt.Sprintf("%d seating events", len(c.Seating.Events)))
	}
	fmt.Fprintf(stdout, "%s: ok (%s, %s store)\n", path, strings.Join(parts, ", "), c.Store.Kind)
	return nil
}

// flagError makes a flag parsing error a usage error; the flag package has
// printed it with the usage already.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}
