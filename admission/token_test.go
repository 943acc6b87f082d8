package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// now0 is the time tokens of the tests are issued, with a fraction of a
// second that Issue must drop.
var now0 = time.Date(2026, 6, 1, 9, 0, 0, 250_000_000, time.UTC)

// fixture is a key set with one signing key and Tokens over it with and
// without a cache.
type fixture struct {
	key              Key
	ks               *KeySet
	cached, uncached *Tokens
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	f := fixture{key: testKey(t, 42)}
	var err error
	if f.ks, err = NewKeySet(f.key); err != nil {
		t.Fatal(err)
	}
	f.cached = newTokens(t, Config{}, f.ks)
	f.uncached = newTokens(t, Config{CacheSize: -1}, f.ks)
	return f
}

func newTokens(t testing.TB, cfg Config, ks *KeySet) *Tokens {
	t.Helper()
	tok, err := NewTokens(cfg, ks)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsWith returns the claims of a valid token issued at now0 to
// visitor-1 for event e1, changed by kv: pairs of claim name and value, a
// nil value deleting the claim.
func claimsWith(kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "visitor-1", "evt": "e1", "jti": "id-1",
		"iat": now0.Unix(), "nbf": now0.Unix(), "exp": now0.Add(DefaultTTL).Unix(),
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// mint signs claims with method and key under a header holding the
// method's "alg", "typ" and the entries of header (a nil value deletes).
func mint(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// raw joins a header and claims, each JSON to be encoded, and an encoded
// signature.
func raw(header, claims, sig string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + sig
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"zero", Config{}, ""},
		{"all set", Config{Issuer: "i", Audience: "a", TTL: time.Second, Leeway: MaxLeeway, CacheSize: 1}, ""},
		{"longest ttl", Config{TTL: MaxTTL}, ""},
		{"no leeway, no cache", Config{Leeway: -1, CacheSize: -1}, ""},
		{"ttl below a second", Config{TTL: 999 * time.Millisecond}, "admission: ttl"},
		{"negative ttl", Config{TTL: -time.Minute}, "admission: ttl"},
		{"ttl too long", Config{TTL: MaxTTL + 1}, "admission: ttl"},
		{"leeway too long", Config{Leeway: MaxLeeway + 1}, "admission: leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("got %v, want an error starting %q", err, tt.want)
			}
			if _, nerr := NewTokens(tt.cfg, newFixture(t).ks); (nerr == nil) != (err == nil) {
				t.Errorf("NewTokens: got %v, want the error of Validate (%v)", nerr, err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in, out Config
	}{
		{"zero", Config{}, Config{Issuer: "foyer", Audience: "foyer-origin", TTL: 15 * time.Minute, Leeway: 5 * time.Second, CacheSize: 65536}},
		{"negatives", Config{Leeway: -1, CacheSize: -1}, Config{Issuer: "foyer", Audience: "foyer-origin", TTL: 15 * time.Minute}},
		{"set", Config{Issuer: "i", Audience: "a", TTL: time.Hour, Leeway: time.Second, CacheSize: 10}, Config{Issuer: "i", Audience: "a", TTL: time.Hour, Leeway: time.Second, CacheSize: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.out {
				t.Errorf("got %+v, want %+v", got, tt.out)
			}
		})
	}
}

func TestIssue(t *testing.T) {
	f := newFixture(t)
	s, c, err := f.cached.Issue("visitor-1", "e1", now0)
	if err != nil {
		t.Fatal(err)
	}
	sec := now0.Truncate(time.Second)
	want := Claims{
		Visitor: "visitor-1", Event: "e1", ID: c.ID, Issuer: "foyer", Audience: "foyer-origin",
		IssuedAt: sec, NotBefore: sec, ExpiresAt: sec.Add(DefaultTTL), SessionStart: sec,
	}
	if c != want {
		t.Errorf("got claims %+v, want %+v", c, want)
	}
	if id, err := base64.RawURLEncoding.DecodeString(c.ID); err != nil || len(id) != 16 {
		t.Errorf("got jti %q, want 16 bytes in base64url", c.ID)
	}

	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("got %d segments, want 3", len(parts))
	}
	var header map[string]any
	if err := decodeSegment(parts[0], &header); err != nil {
		t.Fatal(err)
	}
	if wantH := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": f.key.ID}; fmt.Sprint(header) != fmt.Sprint(wantH) {
		t.Errorf("got header %v, want %v", header, wantH)
	}
	var body map[string]any
	if err := decodeSegment(parts[1], &body); err != nil {
		t.Fatal(err)
	}
	wantB := map[string]any{
		"iss": "foyer", "aud": "foyer-origin", "sub": "visitor-1", "evt": "e1", "jti": c.ID,
		"iat": float64(sec.Unix()), "nbf": float64(sec.Unix()), "exp": float64(sec.Add(DefaultTTL).Unix()),
	}
	if fmt.Sprint(body) != fmt.Sprint(wantB) {
		t.Errorf("got claims %v, want %v", body, wantB)
	}

	for _, tok := range []*Tokens{f.cached, f.uncached} {
		got, err := tok.Verify([]byte(s), "e1", now0)
		if err != nil || got != c {
			t.Errorf("Verify: got %+v, %v, want %+v, nil", got, err, c)
		}
	}
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func TestIssueUniqueIDs(t *testing.T) {
	f := newFixture(t)
	seen := make(map[string]bool)
	for range 1000 {
		_, c, err := f.uncached.Issue("v", "e", now0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("got jti %q twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestIssueConfig(t *testing.T) {
	f := newFixture(t)
	tok := newTokens(t, Config{Issuer: "box-office", Audience: "seating", TTL: 90 * time.Second}, f.ks)
	s, c, err := tok.Issue("v", "e", now0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "box-office" || c.Audience != "seating" || c.ExpiresAt.Sub(c.IssuedAt) != 90*time.Second {
		t.Errorf("got %+v, want issuer box-office, audience seating, 90s of validity", c)
	}
	if _, err := tok.Verify([]byte(s), "e", now0); err != nil {
		t.Errorf("same config: got %v, want nil", err)
	}
	if _, err := f.uncached.Verify([]byte(s), "e", now0); !errors.Is(err, ErrIssuer) {
		t.Errorf("default config: got %v, want %v", err, ErrIssuer)
	}
}

func TestIssueErrors(t *testing.T) {
	f := newFixture(t)
	vs, err := NewVerifyKeySet(publicOnly(f.key))
	if err != nil {
		t.Fatal(err)
	}
	verifyOnly := newTokens(t, Config{}, vs)
	tests := []struct {
		name           string
		tok            *Tokens
		visitor, event string
		want           string
	}{
		{"verify-only key set", verifyOnly, "v", "e", ErrNoSigningKey.Error()},
		{"empty visitor", f.cached, "", "e", "admission: empty visitor"},
		{"empty event", f.cached, "v", "", "admission: empty event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := tt.tok.Issue(tt.visitor, tt.event, now0)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %q, %v, want error %q", s, err, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	key, kid := f.key, f.key.ID
	ed := jwt.SigningMethodEdDSA
	hdr := map[string]any{"kid": kid}
	valid := mint(t, ed, key.Private, hdr, claimsWith())
	parts := strings.Split(valid, ".")
	header, body, sig := parts[0], parts[1], parts[2]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger := testKey(t, 43)
	exp := now0.Truncate(time.Second).Add(DefaultTTL)
	nbf := now0.Truncate(time.Second)

	tests := []struct {
		name  string
		token string
		event string    // "" means e1, unless emptyEvent
		now   time.Time // zero means now0
		want  error
		claim string // the claim named by ErrMissingClaim

		emptyEvent bool
	}{
		{name: "valid", token: valid},
		{name: "valid until exp+leeway", token: valid, now: exp.Add(DefaultLeeway - 1)},
		{name: "valid from nbf-leeway", token: valid, now: nbf.Add(-DefaultLeeway)},
		{name: "audience in an array", token: mint(t, ed, key.Private, hdr, claimsWith("aud", []string{"other", DefaultAudience}))},

		{name: "empty", token: "", want: ErrMalformed},
		{name: "one segment", token: header, want: ErrMalformed},
		{name: "two segments", token: header + "." + body, want: ErrMalformed},
		{name: "four segments", token: valid + ".", want: ErrMalformed},
		{name: "truncated claims", token: valid[:len(header)+10], want: ErrMalformed},
		{name: "truncated by one", token: valid[:len(valid)-1], want: ErrMalformed},
		{name: "too long", token: mint(t, ed, key.Private, hdr, claimsWith("pad", strings.Repeat("x", maxTokenLen))), want: ErrMalformed},
		{name: "header not base64", token: "!!" + header[2:] + "." + body + "." + sig, want: ErrMalformed},
		{name: "header not JSON", token: raw(`{"alg":"EdDSA"`, `{}`, sig), want: ErrMalformed},
		{name: "claims not JSON", token: header + "." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + "." + sig, want: ErrMalformed},
		{name: "padded header", token: header + "=." + body + "." + sig, want: ErrMalformed},
		{name: "non-canonical signature", token: header + "." + body + "." + sig[:len(sig)-1] + string(alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])|1]), want: ErrMalformed},
		{name: "evt not a string", token: mint(t, ed, key.Private, hdr, claimsWith("evt", 7)), want: ErrMalformed},
		{name: "exp not a number", token: mint(t, ed, key.Private, hdr, claimsWith("exp", "tomorrow")), want: ErrMalformed},
		{name: "critical header", token: mint(t, ed, key.Private, map[string]any{"kid": kid, "crit": []string{"exp"}}, claimsWith()), want: ErrMalformed},

		{name: "alg none", token: mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr, claimsWith()), want: ErrAlgorithm},
		{name: "alg none with a signature", token: raw(`{"alg":"none","kid":"`+kid+`"}`, `{}`, sig), want: ErrAlgorithm},
		{name: "alg None", token: raw(`{"alg":"None","kid":"`+kid+`"}`, `{}`, ""), want: ErrAlgorithm},
		{name: "no alg", token: raw(`{"kid":"`+kid+`"}`, `{}`, sig), want: ErrAlgorithm},
		{name: "alg not a string", token: raw(`{"alg":7,"kid":"`+kid+`"}`, `{}`, sig), want: ErrAlgorithm},
		{name: "HS256 keyed with the public key", token: mint(t, jwt.SigningMethodHS256, []byte(key.Public), hdr, claimsWith()), want: ErrAlgorithm},
		{name: "HS256 keyed with the JWK x", token: mint(t, jwt.SigningMethodHS256, []byte(b64.EncodeToString(key.Public)), hdr, claimsWith()), want: ErrAlgorithm},
		{name: "RS256", token: mint(t, jwt.SigningMethodRS256, rsaKey, hdr, claimsWith()), want: ErrAlgorithm},
		{name: "ES256", token: mint(t, jwt.SigningMethodES256, ecKey, hdr, claimsWith()), want: ErrAlgorithm},

		{name: "no kid", token: mint(t, ed, key.Private, nil, claimsWith()), want: ErrUnknownKey},
		{name: "kid not a string", token: mint(t, ed, key.Private, map[string]any{"kid": 1}, claimsWith()), want: ErrUnknownKey},
		{name: "unknown kid", token: mint(t, ed, stranger.Private, map[string]any{"kid": stranger.ID}, claimsWith()), want: ErrUnknownKey},

		{name: "forged with another key", token: mint(t, ed, stranger.Private, hdr, claimsWith()), want: ErrSignature},
		{name: "claims changed", token: header + "." + strings.Split(mint(t, ed, key.Private, hdr, claimsWith("sub", "visitor-2")), ".")[1] + "." + sig, want: ErrSignature},
		{name: "header changed", token: strings.Split(mint(t, ed, key.Private, map[string]any{"kid": kid, "typ": "at+jwt"}, claimsWith()), ".")[0] + "." + body + "." + sig, want: ErrSignature},
		{name: "signature truncated", token: valid[:len(valid)-2], want: ErrSignature},
		{name: "no signature", token: header + "." + body + ".", want: ErrSignature},

		{name: "wrong issuer", token: mint(t, ed, key.Private, hdr, claimsWith("iss", "evil")), want: ErrIssuer},
		{name: "wrong audience", token: mint(t, ed, key.Private, hdr, claimsWith("aud", "seating")), want: ErrAudience},
		{name: "audience array without ours", token: mint(t, ed, key.Private, hdr, claimsWith("aud", []string{"a", "b"})), want: ErrAudience},

		{name: "expired at exp+leeway", token: valid, now: exp.Add(DefaultLeeway), want: ErrExpired},
		{name: "expired long ago", token: valid, now: exp.Add(24 * time.Hour), want: ErrExpired},
		{name: "expired when issued", token: mint(t, ed, key.Private, hdr, claimsWith("exp", now0.Add(-time.Minute).Unix())), want: ErrExpired},
		{name: "before nbf-leeway", token: valid, now: nbf.Add(-DefaultLeeway - 1), want: ErrNotYetValid},
		{name: "nbf in the future", token: mint(t, ed, key.Private, hdr, claimsWith("nbf", now0.Add(time.Minute).Unix())), want: ErrNotYetValid},
		{name: "iat in the future", token: mint(t, ed, key.Private, hdr, claimsWith("iat", now0.Add(time.Minute).Unix())), want: ErrNotYetValid},

		{name: "other event", token: valid, event: "e2", want: ErrWrongEvent},
		{name: "empty event", token: valid, emptyEvent: true, want: ErrWrongEvent},

		{name: "no exp", token: mint(t, ed, key.Private, hdr, claimsWith("exp", nil)), want: ErrMissingClaim, claim: "exp"},
		{name: "no nbf", token: mint(t, ed, key.Private, hdr, claimsWith("nbf", nil)), want: ErrMissingClaim, claim: "nbf"},
		{name: "no iat", token: mint(t, ed, key.Private, hdr, claimsWith("iat", nil)), want: ErrMissingClaim, claim: "iat"},
		{name: "no iss", token: mint(t, ed, key.Private, hdr, claimsWith("iss", nil)), want: ErrMissingClaim, claim: "iss"},
		{name: "no aud", token: mint(t, ed, key.Private, hdr, claimsWith("aud", nil)), want: ErrMissingClaim, claim: "aud"},
		{name: "empty aud", token: mint(t, ed, key.Private, hdr, claimsWith("aud", []string{})), want: ErrMissingClaim, claim: "aud"},
		{name: "no sub", token: mint(t, ed, key.Private, hdr, claimsWith("sub", nil)), want: ErrMissingClaim, claim: "sub"},
		{name: "empty sub", token: mint(t, ed, key.Private, hdr, claimsWith("sub", "")), want: ErrMissingClaim, claim: "sub"},
		{name: "no jti", token: mint(t, ed, key.Private, hdr, claimsWith("jti", nil)), want: ErrMissingClaim, claim: "jti"},
		{name: "no evt", token: mint(t, ed, key.Private, hdr, claimsWith("evt", nil)), want: ErrMissingClaim, claim: "evt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token == valid && tt.name != "valid" && tt.want == nil && tt.now.IsZero() {
				t.Fatal("test case does not change the valid token")
			}
			event, now := tt.event, tt.now
			if event == "" && !tt.emptyEvent {
				event = "e1"
			}
			if now.IsZero() {
				now = now0
			}
			// Twice each, so that a token that verifies is answered from
			// the cache the second time.
			for i, tok := range []*Tokens{f.uncached, f.cached, f.cached} {
				c, err := tok.Verify([]byte(tt.token), event, now)
				if tt.want == nil {
					if err != nil {
						t.Fatalf("call %d: got %v, want nil", i, err)
					}
					if c.Visitor != "visitor-1" || c.Event != "e1" || c.ID != "id-1" || !c.ExpiresAt.Equal(exp) {
						t.Errorf("call %d: got claims %+v", i, c)
					}
					continue
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("call %d: got %v, want %v", i, err, tt.want)
				}
				if got, want := Reason(err), Reason(tt.want); got != want {
					t.Errorf("call %d: got reason %q, want %q", i, got, want)
				}
				if tt.claim != "" && !strings.Contains(err.Error(), `"`+tt.claim+`"`) {
					t.Errorf("call %d: got %q, want it to name claim %q", i, err, tt.claim)
				}
				if c != (Claims{}) {
					t.Errorf("call %d: got claims %+v with an error, want none", i, c)
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old, next := testKey(t, 1), testKey(t, 2)
	before, err := NewKeySet(old)
	if err != nil {
		t.Fatal(err)
	}
	during, err := NewKeySet(next, publicOnly(old))
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewKeySet(next)
	if err != nil {
		t.Fatal(err)
	}
	oldTok, _, err := newTokens(t, Config{}, before).Issue("v", "e", now0)
	if err != nil {
		t.Fatal(err)
	}
	newTok, _, err := newTokens(t, Config{}, during).Issue("v", "e", now0)
	if err != nil {
		t.Fatal(err)
	}
	origin, err := ParseJWKS(during.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	originSet, err := NewVerifyKeySet(origin...)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		ks    *KeySet
		token string
		want  error
	}{
		{"old token, old set", before, oldTok, nil},
		{"old token during rotation", during, oldTok, nil},
		{"old token at an origin during rotation", originSet, oldTok, nil},
		{"old token after rotation", after, oldTok, ErrUnknownKey},
		{"new token during rotation", during, newTok, nil},
		{"new token at an origin during rotation", originSet, newTok, nil},
		{"new token after rotation", after, newTok, nil},
		{"new token, old set", before, newTok, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTokens(t, Config{}, tt.ks).Verify([]byte(tt.token), "e", now0)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrMalformed, "malformed"},
		{ErrAlgorithm, "algorithm"},
		{ErrUnknownKey, "unknown_key"},
		{ErrSignature, "signature"},
		{ErrExpired, "expired"},
		{ErrNotYetValid, "not_yet_valid"},
		{ErrIssuer, "issuer"},
		{ErrAudience, "audience"},
		{ErrWrongEvent, "wrong_event"},
		{ErrMissingClaim, "missing_claim"},
		{missing("sub"), "missing_claim"},
		{fmt.Errorf("gate: %w", ErrExpired), "expired"},
		{ErrNoSigningKey, "other"},
		{errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v): got %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t)
	// A small cache, so that goroutines also race on eviction.
	tok := newTokens(t, Config{CacheSize: 40}, f.ks)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			visitor := fmt.Sprintf("v%d", g)
			for i := range 100 {
				now := now0.Add(time.Duration(i) * time.Second)
				s, _, err := tok.Issue(visitor, "e", now)
				if err != nil {
					t.Error(err)
					return
				}
				for range 3 {
					c, err := tok.Verify([]byte(s), "e", now)
					if err != nil || c.Visitor != visitor {
						t.Errorf("got %+v, %v, want visitor %s", c, err, visitor)
						return
					}
				}
				if _, err := tok.Verify([]byte(s), "e", now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
					t.Errorf("an hour later: got %v, want %v", err, ErrExpired)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := tok.cache.len(); n > 40 {
		t.Errorf("got %d cached tokens, want at most 40", n)
	}
}

func BenchmarkIssue(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.cached.Issue("visitor-1", "e1", now0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueParallel(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := f.cached.Issue("visitor-1", "e1", now0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyUncached(b *testing.B) {
	f := newFixture(b)
	s, _, err := f.uncached.Issue("visitor-1", "e1", now0)
	if err != nil {
		b.Fatal(err)
	}
	token := []byte(s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.uncached.Verify(token, "e1", now0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	f := newFixture(b)
	s, _, err := f.cached.Issue("visitor-1", "e1", now0)
	if err != nil {
		b.Fatal(err)
	}
	token := []byte(s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.cached.Verify(token, "e1", now0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedParallel verifies as many visitors' tokens as fit in
// the cache, from every core at once.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	f := newFixture(b)
	tokens := make([][]byte, 4096)
	for i := range tokens {
		s, _, err := f.cached.Issue(fmt.Sprintf("visitor-%d", i), "e1", now0)
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = []byte(s)
		if _, err := f.cached.Verify(tokens[i], "e1", now0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := f.cached.Verify(tokens[i%len(tokens)], "e1", now0); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

func BenchmarkVerifyUncachedParallel(b *testing.B) {
	f := newFixture(b)
	s, _, err := f.uncached.Issue("visitor-1", "e1", now0)
	if err != nil {
		b.Fatal(err)
	}
	token := []byte(s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.uncached.Verify(token, "e1", now0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestIssueFor(t *testing.T) {
	key, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := NewKeySet(key)
	tokens, err := NewTokens(Config{TTL: time.Hour}, ks)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		ttl, want time.Duration
	}{
		{0, time.Hour},
		{5 * time.Minute, 5 * time.Minute},
		{MaxTTL, MaxTTL},
	}
	for _, c := range cases {
		tok, claims, err := tokens.IssueFor("v", "e", now, c.ttl)
		if err != nil {
			t.Fatalf("IssueFor(ttl %v): %v", c.ttl, err)
		}
		if got := claims.ExpiresAt.Sub(now); got != c.want {
			t.Errorf("IssueFor(ttl %v): expires after %v, want %v", c.ttl, got, c.want)
		}
		if _, err := tokens.Verify([]byte(tok), "e", now.Add(c.want-time.Second)); err != nil {
			t.Errorf("IssueFor(ttl %v): rejected before expiry: %v", c.ttl, err)
		}
		if _, err := tokens.Verify([]byte(tok), "e", now.Add(c.want+DefaultLeeway+time.Second)); !errors.Is(err, ErrExpired) {
			t.Errorf("IssueFor(ttl %v): after expiry got %v, want ErrExpired", c.ttl, err)
		}
	}
	for _, bad := range []time.Duration{-time.Second, MaxTTL + time.Second} {
		if _, _, err := tokens.IssueFor("v", "e", now, bad); err == nil {
			t.Errorf("IssueFor(ttl %v): no error", bad)
		}
	}
}

func TestSessionStartCarriedByRenewals(t *testing.T) {
	fx := newFixture(t)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tok, c, err := fx.cached.IssueFor("v1", "e1", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !c.SessionStart.Equal(t0) {
		t.Errorf("first token: SessionStart got %v, want %v", c.SessionStart, t0)
	}
	got, err := fx.cached.Verify([]byte(tok), "e1", t0)
	if err != nil || !got.SessionStart.Equal(t0) {
		t.Fatalf("verified first token: SessionStart %v err %v, want %v nil", got.SessionStart, err, t0)
	}
	t1 := t0.Add(45 * time.Second)
	tok2, _, err := fx.cached.IssueRenewal("v1", "e1", t1, got.SessionStart, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := fx.cached.Verify([]byte(tok2), "e1", t1)
	if err != nil || !got2.SessionStart.Equal(t0) || !got2.IssuedAt.Equal(t1) {
		t.Errorf("renewal: SessionStart %v IssuedAt %v err %v, want %v %v nil", got2.SessionStart, got2.IssuedAt, err, t0, t1)
	}
	if _, _, err := fx.cached.IssueRenewal("v1", "e1", t0, t1, time.Minute); err == nil {
		t.Error("a session start after now got nil error")
	}
}
