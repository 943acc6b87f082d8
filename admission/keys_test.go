package admission

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
)

// testKey returns the signing key whose seed is 32 bytes of b.
func testKey(t testing.TB, b byte) Key {
	t.Helper()
	k, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{b}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicOnly returns k without its private part.
func publicOnly(k Key) Key {
	k.Private = nil
	return k
}

// The key of RFC 8037, appendix A.
const (
	rfcD   = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfcX   = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfcKid = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" // appendix A.3
)

func TestParseJWKRFC8037(t *testing.T) {
	tests := []struct {
		name, jwk string
		private   bool
	}{
		{"private", `{"kty":"OKP","crv":"Ed25519","d":"` + rfcD + `","x":"` + rfcX + `"}`, true},
		{"public", `{"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseJWK([]byte(tt.jwk))
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != rfcKid {
				t.Errorf("got ID %q, want thumbprint %q", k.ID, rfcKid)
			}
			if got := b64.EncodeToString(k.Public); got != rfcX {
				t.Errorf("got x %q, want %q", got, rfcX)
			}
			if got := k.Private != nil; got != tt.private {
				t.Errorf("got private part %v, want %v", got, tt.private)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 1)
	if a.ID != b.ID || !a.Public.Equal(b.Public) || !a.Private.Equal(b.Private) {
		t.Errorf("same seed: got keys %q and %q, want equal keys", a.ID, b.ID)
	}
	if got, want := a.ID, thumbprint(a.Public); got != want {
		t.Errorf("got ID %q, want thumbprint %q", got, want)
	}
	if c := testKey(t, 2); c.ID == a.ID {
		t.Errorf("different seeds: got the same ID %q", c.ID)
	}
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("short reader: got nil error, want one")
	}
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.validate(); err != nil {
		t.Errorf("GenerateKey(nil): got invalid key: %v", err)
	}
}

func TestJWKRoundTrip(t *testing.T) {
	k := testKey(t, 3)
	k.ID = "2026-03"
	for _, private := range []bool{false, true} {
		b, err := MarshalJWK(k, private)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseJWK(b)
		if err != nil {
			t.Fatalf("ParseJWK(%s): %v", b, err)
		}
		want := k
		if !private {
			want = publicOnly(k)
		}
		if got.ID != want.ID || !got.Public.Equal(want.Public) || !bytes.Equal(got.Private, want.Private) {
			t.Errorf("private=%v: got %+v, want %+v", private, got, want)
		}
		if has := bytes.Contains(b, []byte(`"d"`)); has != private {
			t.Errorf("private=%v: got %s", private, b)
		}
	}
}

func TestMarshalJWKErrors(t *testing.T) {
	k := testKey(t, 4)
	tests := []struct {
		name    string
		key     Key
		private bool
	}{
		{"private part missing", publicOnly(k), true},
		{"no ID", Key{Public: k.Public}, false},
		{"short public key", Key{ID: "a", Public: k.Public[:31]}, false},
		{"private key of another key", Key{ID: "a", Public: testKey(t, 5).Public, Private: k.Private}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := MarshalJWK(tt.key, tt.private); err == nil {
				t.Errorf("got %s, want an error", b)
			}
		})
	}
}

func TestParseJWKErrors(t *testing.T) {
	other := testKey(t, 6)
	d := b64.EncodeToString(other.Private.Seed())
	tests := []struct {
		name, jwk, want string
	}{
		{"not JSON", `{"kty":`, "admission: JWK"},
		{"RSA", `{"kty":"RSA","n":"AQAB","e":"AQAB"}`, "kty"},
		{"EC", `{"kty":"EC","crv":"P-256","x":"` + rfcX + `"}`, "kty"},
		{"X25519", `{"kty":"OKP","crv":"X25519","x":"` + rfcX + `"}`, "crv"},
		{"no crv", `{"kty":"OKP","x":"` + rfcX + `"}`, "crv"},
		{"other alg", `{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"` + rfcX + `"}`, "alg"},
		{"encryption key", `{"kty":"OKP","crv":"Ed25519","use":"enc","x":"` + rfcX + `"}`, "use"},
		{"no x", `{"kty":"OKP","crv":"Ed25519"}`, "x must"},
		{"short x", `{"kty":"OKP","crv":"Ed25519","x":"` + rfcX[:40] + `"}`, "x must"},
		{"long x", `{"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `AA"}`, "x must"},
		{"padded x", `{"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `="}`, "x must"},
		{"standard base64 x", `{"kty":"OKP","crv":"Ed25519","x":"` + strings.ReplaceAll(rfcX, "_", "/") + `"}`, "x must"},
		{"short d", `{"kty":"OKP","crv":"Ed25519","d":"` + rfcD[:20] + `","x":"` + rfcX + `"}`, "d must"},
		{"d of another key", `{"kty":"OKP","crv":"Ed25519","d":"` + d + `","x":"` + rfcX + `"}`, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseJWK([]byte(tt.jwk))
			if err == nil {
				t.Fatalf("got key %q, want an error", k.ID)
			}
			if !strings.HasPrefix(err.Error(), "admission: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseJWKSErrors(t *testing.T) {
	good, err := MarshalJWK(testKey(t, 7), false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `[`, "admission: JWKS"},
		{"no keys", `{}`, "no keys"},
		{"empty keys", `{"keys":[]}`, "no keys"},
		{"bad second key", `{"keys":[` + string(good) + `,{"kty":"RSA"}]}`, "keys[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJWKS([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestJWKSRoundTrip(t *testing.T) {
	signing, old, older := testKey(t, 8), testKey(t, 9), testKey(t, 10)
	ks, err := NewKeySet(signing, old, publicOnly(older))
	if err != nil {
		t.Fatal(err)
	}
	doc := ks.JWKS()
	if bytes.Contains(doc, []byte(`"d"`)) {
		t.Fatalf("JWKS holds a private key: %s", doc)
	}
	var raw struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	for i, m := range raw.Keys {
		want := map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": m["kid"], "x": m["x"]}
		if len(m) != len(want) || m["kid"] == "" || m["x"] == "" {
			t.Errorf("keys[%d]: got %v, want the members %v", i, m, want)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("keys[%d].%s: got %q, want %q", i, k, m[k], v)
			}
		}
	}

	keys, err := ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []Key{signing, old, older}
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d", len(keys), len(want))
	}
	for i := range want {
		if keys[i].ID != want[i].ID || !keys[i].Public.Equal(want[i].Public) || keys[i].Private != nil {
			t.Errorf("keys[%d]: got %q, want public key %q", i, keys[i].ID, want[i].ID)
		}
	}
	vs, err := NewVerifyKeySet(keys...)
	if err != nil {
		t.Fatal(err)
	}
	if got := vs.JWKS(); !bytes.Equal(got, doc) {
		t.Errorf("JWKS of the parsed set:\ngot  %s\nwant %s", got, doc)
	}
}

func TestNewKeySetErrors(t *testing.T) {
	a, b := testKey(t, 11), testKey(t, 12)
	tests := []struct {
		name    string
		signing Key
		verify  []Key
		want    string
	}{
		{"signing key without private part", publicOnly(a), nil, "no private part"},
		{"signing key listed again", a, []Key{publicOnly(a)}, "duplicate"},
		{"duplicate verification keys", a, []Key{b, publicOnly(b)}, "duplicate"},
		{"same ID, other key", a, []Key{{ID: a.ID, Public: b.Public}}, "duplicate"},
		{"verification key without ID", a, []Key{{Public: b.Public}}, "no ID"},
		{"short verification key", a, []Key{{ID: "x", Public: b.Public[:16]}}, "public key is 16 bytes"},
		{"mismatched signing key", Key{ID: "x", Public: b.Public, Private: a.Private}, nil, "does not match"},
		{"truncated private key", Key{ID: "x", Public: a.Public, Private: a.Private[:40]}, nil, "private key is 40 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeySet(tt.signing, tt.verify...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := NewVerifyKeySet(); err == nil {
		t.Error("NewVerifyKeySet(): got nil error, want one")
	}
	if _, err := NewVerifyKeySet(publicOnly(a), publicOnly(a)); err == nil {
		t.Error("NewVerifyKeySet(a, a): got nil error, want one")
	}
}

func TestKeySetIsImmutable(t *testing.T) {
	k := testKey(t, 13)
	ks, err := NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewTokens(Config{}, ks)
	if err != nil {
		t.Fatal(err)
	}
	want := ks.JWKS()
	// Scribble over everything the caller still holds.
	for i := range k.Public {
		k.Public[i] = 0
	}
	for i := range k.Private {
		k.Private[i] = 0
	}
	doc := ks.JWKS()
	for i := range doc {
		doc[i] = 0
	}
	if got := ks.JWKS(); !bytes.Equal(got, want) {
		t.Errorf("got JWKS %s after the caller changed its copies, want %s", got, want)
	}
	s, _, err := tok.Issue("v", "e", now0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Verify([]byte(s), "e", now0); err != nil {
		t.Errorf("got %v, want the set to sign and verify as before", err)
	}
}

func TestZeroKeySet(t *testing.T) {
	var ks KeySet
	if got, want := string(ks.JWKS()), `{"keys":[]}`; got != want {
		t.Errorf("got JWKS %s, want %s", got, want)
	}
	if _, err := NewTokens(Config{}, &ks); err == nil {
		t.Error("NewTokens over the zero KeySet: got nil error, want one")
	}
	if _, err := NewTokens(Config{}, nil); err == nil {
		t.Error("NewTokens over a nil KeySet: got nil error, want one")
	}
}
