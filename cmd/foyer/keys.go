package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/foyerhq/foyer/admission"
)

// runKeysGenerate writes a new Ed25519 signing key as a private JWK (to --out,
// mode 0600, or to stdout, first) and prints its public JWKS, which origins
// use to verify admission tokens.
func runKeysGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the private key to this file (mode 0600) instead of stdout")
	jwksOut := fs.String("jwks-out", "", "also write the public JWKS to this file")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	k, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	priv, err := admission.MarshalJWK(k, true)
	if err != nil {
		return err
	}
	set, err := admission.NewKeySet(k)
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintf(stdout, "%s\n", priv)
		fmt.Fprintf(stderr, "the private key %s is above; its public JWKS follows\n", k.ID)
		fmt.Fprintf(stdout, "%s\n", set.JWKS())
	} else {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("keys generate: %w (refusing to overwrite an existing key)", err)
		}
		if _, err := fmt.Fprintf(f, "%s\n", priv); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "private key %s written to %s; public JWKS follows\n", k.ID, *out)
		fmt.Fprintf(stdout, "%s\n", set.JWKS())
	}
	if *jwksOut != "" {
		if err := os.WriteFile(*jwksOut, append(set.JWKS(), '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
