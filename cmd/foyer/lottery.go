package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/foyerhq/foyer/queue"
)

// runLotteryVerify checks a published pre-queue draw (the JSON of a
// queue.Draw): it prints "ok: N members, order verified" or returns the
// precise reason the draw is rejected.
func runLotteryVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lottery verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foyer lottery verify FILE\n\nChecks a published pre-queue draw: the seed matches its commitment, the\nmembers match the committed snapshot and the order is the shuffle of the seed.")
	}
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 1 {
		return usageError{"usage: foyer lottery verify FILE"}
	}
	path := fs.Arg(0)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lottery verify: %w", err)
	}
	d, err := decodeDraw(b)
	if err != nil {
		return fmt.Errorf("lottery verify: %s: %w", path, err)
	}
	if err := queue.VerifyDraw(d); err != nil {
		return fmt.Errorf("lottery verify: %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "ok: %d members, order verified\n", len(d.Order))
	return nil
}

// decodeDraw decodes a draw strictly: a misspelt field would otherwise be
// read as empty and reported as a mismatch far from its cause.
func decodeDraw(b []byte) (queue.Draw, error) {
	var d queue.Draw
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return queue.Draw{}, fmt.Errorf("not a draw document: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return queue.Draw{}, errors.New("not a draw document: data after the JSON object")
	}
	return d, nil
}
