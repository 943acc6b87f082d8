package admission

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// b64 is the unpadded base64url encoding of JOSE (RFC 7515, section 2). It is
// strict so that every key and token has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// Key is an Ed25519 key that signs or verifies admission tokens.
//
// ID is the key id ("kid") carried in the header of every token the key
// signs. Private is nil for a key that only verifies.
type Key struct {
	ID      string
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// GenerateKey returns a new signing key whose seed is read from r, or from
// crypto/rand when r is nil. Its ID is the RFC 7638 JWK thumbprint of the
// public key, so the same key always gets the same ID.
func GenerateKey(r io.Reader) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return Key{}, fmt.Errorf("admission: generate key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return Key{ID: thumbprint(pub), Public: pub, Private: priv}, nil
}

// thumbprint returns the RFC 7638 thumbprint of an Ed25519 public key: the
// base64url SHA-256 of its required JWK members in lexicographic order
// (RFC 8037, appendix A.3).
func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`))
	return b64.EncodeToString(sum[:])
}

// validate reports whether k can be put in a KeySet.
func (k Key) validate() error {
	if k.ID == "" {
		return errors.New("admission: key has no ID")
	}
	if len(k.Public) != ed25519.PublicKeySize {
		return fmt.Errorf("admission: key %q: public key is %d bytes, want %d", k.ID, len(k.Public), ed25519.PublicKeySize)
	}
	if k.Private == nil {
		return nil
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return fmt.Errorf("admission: key %q: private key is %d bytes, want %d", k.ID, len(k.Private), ed25519.PrivateKeySize)
	}
	// An ed25519.PrivateKey is seed || public key; derive the public key from
	// the seed rather than trusting the copy in the second half.
	derived := ed25519.NewKeyFromSeed(k.Private.Seed()).Public().(ed25519.PublicKey)
	if !bytes.Equal(derived, k.Public) || !bytes.Equal(k.Private[ed25519.SeedSize:], k.Public) {
		return fmt.Errorf("admission: key %q: private key does not match public key", k.ID)
	}
	return nil
}

// jwk is the JSON form of an OKP key (RFC 8037, section 2). Field order is the
// order of the JWKS document.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid,omitempty"`
	X   string `json:"x"`
	D   string `json:"d,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

func toJWK(k Key, private bool) jwk {
	j := jwk{Kty: "OKP", Crv: "Ed25519", Kid: k.ID, X: b64.EncodeToString(k.Public), Alg: "EdDSA", Use: "sig"}
	if private {
		j.D = b64.EncodeToString(k.Private.Seed())
	}
	return j
}

// MarshalJWK returns k as a JSON Web Key (RFC 8037) with "alg":"EdDSA" and
// "use":"sig". With private set it includes the private part ("d"), which
// must then be present in k.
func MarshalJWK(k Key, private bool) ([]byte, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	if private && k.Private == nil {
		return nil, fmt.Errorf("admission: key %q has no private part", k.ID)
	}
	return json.Marshal(toJWK(k, private))
}

// ParseJWK parses one JSON Web Key, private (with "d") or public. Only
// Ed25519 OKP keys are accepted; "alg" and "use", when present, must be
// "EdDSA" and "sig". A key without "kid" gets its RFC 7638 thumbprint as ID.
func ParseJWK(b []byte) (Key, error) {
	var j jwk
	if err := json.Unmarshal(b, &j); err != nil {
		return Key{}, fmt.Errorf("admission: JWK: %w", err)
	}
	return j.key()
}

func (j jwk) key() (Key, error) {
	switch {
	case j.Kty != "OKP":
		return Key{}, fmt.Errorf("admission: JWK kty is %q, want \"OKP\"", j.Kty)
	case j.Crv != "Ed25519":
		return Key{}, fmt.Errorf("admission: JWK crv is %q, want \"Ed25519\"", j.Crv)
	case j.Alg != "" && j.Alg != "EdDSA":
		return Key{}, fmt.Errorf("admission: JWK alg is %q, want \"EdDSA\"", j.Alg)
	case j.Use != "" && j.Use != "sig":
		return Key{}, fmt.Errorf("admission: JWK use is %q, want \"sig\"", j.Use)
	}
	x, err := b64.DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("admission: JWK x must be %d bytes in base64url", ed25519.PublicKeySize)
	}
	k := Key{ID: j.Kid, Public: ed25519.PublicKey(x)}
	if k.ID == "" {
		k.ID = thumbprint(k.Public)
	}
	if j.D != "" {
		d, err := b64.DecodeString(j.D)
		if err != nil || len(d) != ed25519.SeedSize {
			return Key{}, fmt.Errorf("admission: JWK d must be %d bytes in base64url", ed25519.SeedSize)
		}
		k.Private = ed25519.NewKeyFromSeed(d)
		if !bytes.Equal(k.Private.Public().(ed25519.PublicKey), k.Public) {
			return Key{}, fmt.Errorf("admission: JWK %q: d does not match x", k.ID)
		}
	}
	return k, nil
}

// ParseJWKS parses a JSON Web Key Set ({"keys":[...]}) whose keys are all
// accepted by ParseJWK. It fails on an empty set and names the index of the
// first bad key. Duplicate IDs are left for NewKeySet to reject.
func ParseJWKS(b []byte) ([]Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("admission: JWKS: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("admission: JWKS has no keys")
	}
	keys := make([]Key, 0, len(doc.Keys))
	for i, raw := range doc.Keys {
		k, err := ParseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("admission: JWKS keys[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// KeySet is the set of keys a Tokens signs and verifies with: at most one
// signing key and any number of verification keys, looked up by ID. Keeping a
// retired signing key in the set as a verification key lets tokens it signed
// verify until they expire, which is how keys are rotated.
//
// A KeySet is immutable and safe for concurrent use. Create it with NewKeySet
// or NewVerifyKeySet; the zero value holds no keys.
type KeySet struct {
	signing Key                          // Private is nil when the set only verifies
	keys    []Key                        // public parts, signing key first
	byID    map[string]ed25519.PublicKey // every key of keys
	jwks    []byte                       // JWKS document of keys
}

// NewKeySet returns a key set that signs with signing, which must have a
// private part, and verifies with signing and every key of verify. The
// private parts of verify keys are ignored. Key IDs must be unique.
func NewKeySet(signing Key, verify ...Key) (*KeySet, error) {
	if signing.Private == nil {
		return nil, fmt.Errorf("admission: signing key %q has no private part", signing.ID)
	}
	return newKeySet(signing, verify)
}

// NewVerifyKeySet returns a key set that only verifies, as an origin that
// checks admission tokens needs. Tokens built on it fail to Issue with
// ErrNoSigningKey. At least one key is required and IDs must be unique.
func NewVerifyKeySet(verify ...Key) (*KeySet, error) {
	if len(verify) == 0 {
		return nil, errors.New("admission: key set has no keys")
	}
	return newKeySet(Key{}, verify)
}

func newKeySet(signing Key, verify []Key) (*KeySet, error) {
	ks := &KeySet{byID: make(map[string]ed25519.PublicKey, len(verify)+1)}
	all := verify
	if signing.Private != nil {
		if err := signing.validate(); err != nil {
			return nil, err
		}
		// Copy so that the caller cannot change the set after the fact.
		ks.signing = Key{
			ID:      signing.ID,
			Public:  bytes.Clone(signing.Public),
			Private: bytes.Clone(signing.Private),
		}
		all = append([]Key{signing}, verify...)
	}
	for _, k := range all {
		k.Private = nil
		if err := k.validate(); err != nil {
			return nil, err
		}
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("admission: duplicate key ID %q", k.ID)
		}
		k.Public = bytes.Clone(k.Public)
		ks.byID[k.ID] = k.Public
		ks.keys = append(ks.keys, k)
	}
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(ks.keys))}
	for _, k := range ks.keys {
		doc.Keys = append(doc.Keys, toJWK(k, false))
	}
	var err error
	if ks.jwks, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("admission: JWKS: %w", err)
	}
	return ks, nil
}

// JWKS returns the public JSON Web Key Set of ks, signing key first, as
// served to origins that verify tokens themselves. Private parts are never
// included. The document is built once; each call returns a fresh copy.
func (ks *KeySet) JWKS() []byte {
	if ks.jwks == nil {
		return []byte(`{"keys":[]}`)
	}
	return bytes.Clone(ks.jwks)
}

// lookup returns the public key with the given ID. It does no I/O.
func (ks *KeySet) lookup(kid string) (ed25519.PublicKey, bool) {
	pub, ok := ks.byID[kid]
	return pub, ok
}
