package admission

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify checks that Verify never panics, never accepts bytes other than
// a token the key set issued, gives every rejection a reason, and answers the
// same with and without the cache.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	// A tiny cache, so that eviction runs too.
	cached := newTokens(f, Config{CacheSize: 4}, fx.ks)
	// Issued with fixed ids: Ed25519 signatures are deterministic, so every
	// fuzzing worker process builds the same tokens.
	issued := make(map[string]Claims)
	for _, id := range []string{"id-a", "id-b", "id-c"} {
		s, c, err := fx.uncached.issue("visitor-"+id, "e1", id, now0, now0, 0)
		if err != nil {
			f.Fatal(err)
		}
		issued[s] = c
	}
	hdr := map[string]any{"kid": fx.key.ID}
	for s := range issued {
		f.Add([]byte(s), int32(0))
		f.Add([]byte(s), int32(DefaultTTL/time.Second))
		f.Add([]byte(s[:len(s)-1]), int32(0))
		f.Add([]byte(s[:len(s)-2]), int32(0))
		f.Add([]byte(s[:strings.LastIndexByte(s, '.')]), int32(0))
	}
	f.Add([]byte(mint(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr, claimsWith())), int32(0))
	f.Add([]byte(mint(f, jwt.SigningMethodHS256, []byte(fx.key.Public), hdr, claimsWith())), int32(0))
	f.Add([]byte(mint(f, jwt.SigningMethodHS256, []byte(b64.EncodeToString(fx.key.Public)), hdr, claimsWith())), int32(0))
	f.Add([]byte(mint(f, jwt.SigningMethodEdDSA, testKey(f, 43).Private, hdr, claimsWith())), int32(0))
	f.Add([]byte(raw(`{"alg":"EdDSA","kid":"`+fx.key.ID+`","crit":["x"]}`, `{"exp":1e400}`, "")), int32(-10))
	f.Add([]byte("..."), int32(0))
	f.Add([]byte{}, int32(0))

	f.Fuzz(func(t *testing.T, token []byte, offset int32) {
		now := now0.Add(time.Duration(offset) * time.Second)
		in := bytes.Clone(token)
		c1, err1 := cached.Verify(token, "e1", now)
		c2, err2 := fx.uncached.Verify(token, "e1", now)
		if !bytes.Equal(token, in) {
			t.Fatal("Verify changed its input")
		}
		if c1 != c2 || Reason(err1) != Reason(err2) {
			t.Fatalf("cached: %+v, %v; uncached: %+v, %v; want the same answer", c1, err1, c2, err2)
		}
		if err1 != nil {
			if r := Reason(err1); r == "other" || !strings.HasPrefix(err1.Error(), "admission: ") {
				t.Fatalf("got error %q with reason %q, want a sentinel", err1, r)
			}
			if c1 != (Claims{}) {
				t.Fatalf("got claims %+v with error %v", c1, err1)
			}
			return
		}
		want, ok := issued[string(token)]
		if !ok {
			t.Fatalf("verified %q, which the key set never issued", token)
		}
		if c1 != want {
			t.Fatalf("got claims %+v, want %+v", c1, want)
		}
	})
}
