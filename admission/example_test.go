package admission_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/foyerhq/foyer/admission"
)

func Example() {
	key, err := admission.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	keys, err := admission.NewKeySet(key)
	if err != nil {
		panic(err)
	}
	tokens, err := admission.NewTokens(admission.Config{TTL: 10 * time.Minute}, keys)
	if err != nil {
		panic(err)
	}

	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	token, _, err := tokens.Issue("visitor-7", "finals", now)
	if err != nil {
		panic(err)
	}

	claims, err := tokens.Verify([]byte(token), "finals", now.Add(time.Minute))
	fmt.Println(claims.Visitor, claims.ExpiresAt.Format(time.Kitchen), err)

	_, err = tokens.Verify([]byte(token), "semifinals", now.Add(time.Minute))
	fmt.Println(admission.Reason(err), errors.Is(err, admission.ErrWrongEvent))

	_, err = tokens.Verify([]byte(token), "finals", now.Add(time.Hour))
	fmt.Println(admission.Reason(err))
	// Output:
	// visitor-7 9:10AM <nil>
	// wrong_event true
	// expired
}

// An origin verifies tokens with the public keys the proxy serves.
func ExampleNewVerifyKeySet() {
	signing, _ := admission.GenerateKey(nil)
	proxyKeys, _ := admission.NewKeySet(signing)
	proxy, _ := admission.NewTokens(admission.Config{}, proxyKeys)

	jwks := proxyKeys.JWKS() // served at /_foyer/.well-known/jwks.json
	public, err := admission.ParseJWKS(jwks)
	if err != nil {
		panic(err)
	}
	originKeys, err := admission.NewVerifyKeySet(public...)
	if err != nil {
		panic(err)
	}
	origin, _ := admission.NewTokens(admission.Config{}, originKeys)

	now := time.Now()
	token, _, _ := proxy.Issue("visitor-7", "finals", now)
	_, err = origin.Verify([]byte(token), "finals", now)
	fmt.Println(err)
	_, _, err = origin.Issue("visitor-8", "finals", now)
	fmt.Println(err)
	// Output:
	// <nil>
	// admission: key set has no signing key
}

func ExamplePolicy_Wait() {
	p := admission.Policy{RatePerSecond: 40}
	fmt.Println(p.Wait(1200))
	p.Paused = true
	fmt.Println(p.Wait(1200))
	// Output:
	// 30s true
	// 0s false
}
