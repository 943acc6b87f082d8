package main

import (
	"fmt"
	"os"
	"time"

	"github.com/foyerhq/foyer/admission"
)

type tokenOptions struct {
	keyFile string
	event   string
	visitor string
	ttl     time.Duration
}

// mintToken signs an admission token for o.event with the private JWK in
// o.keyFile, as Foyer's proxy would on admitting o.visitor, so that a
// benchmark can call the seating service (which only verifies tokens)
// without running the waiting room.
func mintToken(o tokenOptions) (string, error) {
	data, err := os.ReadFile(o.keyFile)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	k, err := admission.ParseJWK(data)
	if err != nil {
		return "", fmt.Errorf("token: %s: %w", o.keyFile, err)
	}
	ks, err := admission.NewKeySet(k)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tokens, err := admission.NewTokens(admission.Config{TTL: o.ttl}, ks)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok, _, err := tokens.IssueFor(o.visitor, o.event, time.Now(), o.ttl)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return tok, nil
}
