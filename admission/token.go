package admission

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by Tokens. Verify wraps or returns exactly one of the
// rejection errors; callers branch on them with errors.Is and label metrics
// with Reason.
var (
	// ErrMalformed means the token is not a well-formed JWS compact
	// serialization with JSON header and claims of the expected types.
	ErrMalformed = errors.New("admission: malformed token")
	// ErrAlgorithm means the token is not signed with EdDSA (for example
	// "none", HS256 or RS256), or names no algorithm.
	ErrAlgorithm = errors.New("admission: signing algorithm not allowed")
	// ErrUnknownKey means the token has no "kid" header or names a key
	// that is not in the key set.
	ErrUnknownKey = errors.New("admission: unknown signing key")
	// ErrSignature means the signature does not verify with the named key.
	ErrSignature = errors.New("admission: invalid signature")
	// ErrExpired means the token's expiry, plus leeway, has passed.
	ErrExpired = errors.New("admission: token expired")
	// ErrNotYetValid means the token's not-before or issued-at time, minus
	// leeway, is still to come.
	ErrNotYetValid = errors.New("admission: token not valid yet")
	// ErrIssuer means the token was issued by another issuer.
	ErrIssuer = errors.New("admission: wrong issuer")
	// ErrAudience means the token is meant for another audience.
	ErrAudience = errors.New("admission: wrong audience")
	// ErrWrongEvent means the token admits to another event.
	ErrWrongEvent = errors.New("admission: token is for another event")
	// ErrMissingClaim means a required claim is absent or empty. The error
	// returned wraps it and names the claim.
	ErrMissingClaim = errors.New("admission: missing required claim")

	// ErrNoSigningKey is returned by Issue when the key set only verifies.
	ErrNoSigningKey = errors.New("admission: key set has no signing key")
)

// Reason returns a short, stable label for an error returned by Verify, for
// use as a metric label: "malformed", "algorithm", "unknown_key",
// "signature", "expired", "not_yet_valid", "issuer", "audience",
// "wrong_event", "missing_claim", or "other" for any other error. It returns
// "" for a nil error.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrAlgorithm):
		return "algorithm"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrSignature):
		return "signature"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrIssuer):
		return "issuer"
	case errors.Is(err, ErrAudience):
		return "audience"
	case errors.Is(err, ErrWrongEvent):
		return "wrong_event"
	case errors.Is(err, ErrMissingClaim):
		return "missing_claim"
	}
	return "other"
}

// Defaults of Config.
const (
	DefaultIssuer    = "foyer"
	DefaultAudience  = "foyer-origin"
	DefaultTTL       = 15 * time.Minute
	DefaultLeeway    = 5 * time.Second
	DefaultCacheSize = 65536
)

// Limits checked by Config.Validate.
const (
	// MaxTTL bounds how long an admission token may live.
	MaxTTL = 24 * time.Hour
	// MaxLeeway bounds the clock skew tolerated between the issuer and a
	// verifier.
	MaxLeeway = time.Minute
)

// maxTokenLen bounds the input of Verify. Foyer's tokens are about 400 bytes;
// anything much longer is rejected before it is decoded.
const maxTokenLen = 4096

// Config configures Tokens. The zero value is valid and means every default.
type Config struct {
	// Issuer is the "iss" claim of issued tokens and the only issuer
	// accepted. Zero means DefaultIssuer.
	Issuer string
	// Audience is the "aud" claim of issued tokens and the audience a token
	// must name to verify. Zero means DefaultAudience.
	Audience string
	// TTL is how long an issued token is valid. Zero means DefaultTTL;
	// otherwise it must be between one second and MaxTTL. Token times have
	// a precision of one second.
	TTL time.Duration
	// Leeway is the clock skew tolerated when checking "exp", "nbf" and
	// "iat". Zero means DefaultLeeway; a negative value means none. It must
	// be at most MaxLeeway.
	Leeway time.Duration
	// CacheSize is how many verified tokens are remembered so that they are
	// not verified again. Zero means DefaultCacheSize; a negative value
	// disables the cache.
	CacheSize int
}

// withDefaults returns c with every zero field set to its default. It is the
// only place defaults are filled in.
func (c Config) withDefaults() Config {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	switch {
	case c.CacheSize == 0:
		c.CacheSize = DefaultCacheSize
	case c.CacheSize < 0:
		c.CacheSize = 0
	}
	return c
}

// Validate reports the first invalid field of c, named as in configuration
// files.
func (c Config) Validate() error {
	if c.TTL != 0 && (c.TTL < time.Second || c.TTL > MaxTTL) {
		return fmt.Errorf("admission: ttl is %v, want between 1s and %v", c.TTL, MaxTTL)
	}
	if c.Leeway > MaxLeeway {
		return fmt.Errorf("admission: leeway is %v, want at most %v", c.Leeway, MaxLeeway)
	}
	return nil
}

// Claims are the claims of a verified or issued admission token. Times have
// a precision of one second and are in UTC.
type Claims struct {
	// Visitor is the visitor admitted ("sub").
	Visitor string
	// Event is the event the visitor is admitted to ("evt").
	Event string
	// ID is the token's unique id ("jti"), 128 random bits.
	ID string
	// Issuer ("iss") and Audience ("aud") are those of the Config the token
	// was issued or verified with.
	Issuer, Audience string
	// IssuedAt ("iat"), NotBefore ("nbf") and ExpiresAt ("exp") bound the
	// token's validity.
	IssuedAt, NotBefore, ExpiresAt time.Time
	// SessionStart ("sst") is when the visitor's session began: the
	// IssuedAt of the first token of a session that renewals carry on, so
	// a session can be bounded however often it is renewed. A token
	// without "sst" began its session at IssuedAt.
	SessionStart time.Time
}

// check reports whether claims that verified earlier are still valid at now
// for event, with the same rules and in the same order as a full
// verification: the cache must not change any answer.
func (c *Claims) check(event string, now time.Time, leeway time.Duration) error {
	// The comparisons are those of jwt.Validator: valid while now < exp +
	// leeway and once now >= nbf - leeway and now >= iat - leeway.
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return ErrExpired
	}
	if now.Before(c.NotBefore.Add(-leeway)) || now.Before(c.IssuedAt.Add(-leeway)) {
		return ErrNotYetValid
	}
	if c.Event != event {
		return ErrWrongEvent
	}
	return nil
}

// Tokens issues and verifies admission tokens: EdDSA-signed JWTs (RFC 7519,
// RFC 8037) that let a visitor through to an event's origin.
//
// A Tokens is safe for concurrent use. Verified tokens are remembered in a
// bounded cache (see Config.CacheSize); the answer of Verify never depends on
// whether a token was cached.
type Tokens struct {
	cfg    Config // with defaults
	keys   *KeySet
	parser []jwt.ParserOption // all but the time function, which varies per call
	cache  *cache             // nil when disabled
}

// NewTokens returns a Tokens that signs and verifies with ks.
func NewTokens(cfg Config, ks *KeySet) (*Tokens, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ks == nil || len(ks.keys) == 0 {
		return nil, errors.New("admission: key set has no keys")
	}
	cfg = cfg.withDefaults()
	t := &Tokens{
		cfg:  cfg,
		keys: ks,
		parser: []jwt.ParserOption{
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithStrictDecoding(),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
		},
	}
	if cfg.CacheSize > 0 {
		t.cache = newCache(cfg.CacheSize)
	}
	return t, nil
}

// issuedClaims is the JSON form of the claims of an issued token. It differs
// from jwt.RegisteredClaims in encoding "aud" as a single string.
type issuedClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
	Event     string           `json:"evt"`
	Session   int64            `json:"sst,omitempty"`
}

func (c *issuedClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *issuedClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *issuedClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *issuedClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *issuedClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *issuedClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// parsedClaims is what Verify decodes. jwt.RegisteredClaims accepts "aud" as
// a string or an array, as RFC 7519 allows.
type parsedClaims struct {
	jwt.RegisteredClaims
	Event   string `json:"evt"`
	Session int64  `json:"sst"`
}

// Issue returns a signed token admitting visitor to event, valid from now
// for the configured TTL, and its claims. It fails with ErrNoSigningKey when
// the key set only verifies.
func (t *Tokens) Issue(visitor, event string, now time.Time) (string, Claims, error) {
	return t.IssueFor(visitor, event, now, 0)
}

// IssueFor is Issue with a token lifetime of its own, such as an event's
// session duration; ttl 0 means the configured TTL. Like Config.TTL, ttl is
// at most MaxTTL.
func (t *Tokens) IssueFor(visitor, event string, now time.Time, ttl time.Duration) (string, Claims, error) {
	if ttl < 0 || ttl > MaxTTL {
		return "", Claims{}, fmt.Errorf("admission: token lifetime %v is outside [0, %v]", ttl, MaxTTL)
	}
	return t.IssueRenewal(visitor, event, now, now, ttl)
}

// IssueRenewal is IssueFor for a session that began at sessionStart (a
// renewal carries the SessionStart of the token it replaces); sessionStart
// must not be after now.
func (t *Tokens) IssueRenewal(visitor, event string, now, sessionStart time.Time, ttl time.Duration) (string, Claims, error) {
	if ttl < 0 || ttl > MaxTTL {
		return "", Claims{}, fmt.Errorf("admission: token lifetime %v is outside [0, %v]", ttl, MaxTTL)
	}
	if sessionStart.After(now) {
		return "", Claims{}, errors.New("admission: session start after now")
	}
	var id [16]byte
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("admission: token id: %w", err)
	}
	return t.issue(visitor, event, base64.RawURLEncoding.EncodeToString(id[:]), now, sessionStart, ttl)
}

// issue is IssueRenewal with a given token id, so that tests can build the
// same token twice.
func (t *Tokens) issue(visitor, event, id string, now, sessionStart time.Time, ttl time.Duration) (string, Claims, error) {
	if ttl == 0 {
		ttl = t.cfg.TTL
	}
	signing := t.keys.signing
	if signing.Private == nil {
		return "", Claims{}, ErrNoSigningKey
	}
	if visitor == "" {
		return "", Claims{}, errors.New("admission: empty visitor")
	}
	if event == "" {
		return "", Claims{}, errors.New("admission: empty event")
	}
	c := Claims{
		Visitor:      visitor,
		Event:        event,
		ID:           id,
		Issuer:       t.cfg.Issuer,
		Audience:     t.cfg.Audience,
		IssuedAt:     now.Truncate(time.Second).UTC(),
		ExpiresAt:    now.Add(ttl).Truncate(time.Second).UTC(),
		SessionStart: sessionStart.Truncate(time.Second).UTC(),
	}
	c.NotBefore = c.IssuedAt
	var sst int64
	if !c.SessionStart.Equal(c.IssuedAt) {
		sst = c.SessionStart.Unix()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &issuedClaims{
		Issuer:    c.Issuer,
		Subject:   c.Visitor,
		Audience:  c.Audience,
		ExpiresAt: &jwt.NumericDate{Time: c.ExpiresAt},
		NotBefore: &jwt.NumericDate{Time: c.NotBefore},
		IssuedAt:  &jwt.NumericDate{Time: c.IssuedAt},
		ID:        c.ID,
		Event:     c.Event,
		Session:   sst,
	})
	tok.Header["kid"] = signing.ID
	s, err := tok.SignedString(signing.Private)
	if err != nil {
		return "", Claims{}, fmt.Errorf("admission: sign token: %w", err)
	}
	return s, c, nil
}

// Verify checks token at time now and returns its claims. The token must be
// an EdDSA JWT whose "kid" names a key of the key set, with a valid
// signature, this Config's issuer and audience, "exp", "nbf" and "iat" that
// make it valid at now (give or take the leeway), non-empty "sub" and "jti",
// and an "evt" claim equal to event. An empty event matches no token, since
// Issue never issues one.
//
// A rejection returns, possibly wrapped, exactly one of ErrMalformed,
// ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrExpired, ErrNotYetValid,
// ErrIssuer, ErrAudience, ErrWrongEvent or ErrMissingClaim.
//
// Verify does no I/O. A token that verified before is answered from the
// cache without checking its signature again, and without allocating; its
// times and event are checked against now and event exactly as above.
// Verify does not keep token after it returns.
func (t *Tokens) Verify(token []byte, event string, now time.Time) (Claims, error) {
	if t.cache != nil {
		if c, ok := t.cache.get(token); ok {
			if err := c.check(event, now, t.cfg.Leeway); err != nil {
				return Claims{}, err
			}
			return c, nil
		}
	}
	c, err := t.verify(token, event, now)
	if err != nil {
		return Claims{}, err
	}
	if t.cache != nil {
		t.cache.put(token, c, now, t.cfg.Leeway)
	}
	return c, nil
}

// verify is Verify without the cache.
func (t *Tokens) verify(token []byte, event string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, ErrMalformed
	}
	var pc parsedClaims
	opts := append(t.parser[:len(t.parser):len(t.parser)], jwt.WithTimeFunc(func() time.Time { return now }))
	tok, err := jwt.NewParser(opts...).ParseWithClaims(string(token), &pc, t.keyFunc)
	if err != nil {
		return Claims{}, t.rejection(tok, &pc, err)
	}
	switch {
	case pc.IssuedAt == nil:
		// jwt checks "iat" only when present.
		return Claims{}, missing("iat")
	case pc.Subject == "":
		return Claims{}, missing("sub")
	case pc.ID == "":
		return Claims{}, missing("jti")
	case pc.Event == "":
		return Claims{}, missing("evt")
	}
	// jwt has checked iss and aud, so the Config's strings stand in for the
	// decoded ones: a cached entry then holds no copy of them.
	c := Claims{
		Visitor:   pc.Subject,
		Event:     pc.Event,
		ID:        pc.ID,
		Issuer:    t.cfg.Issuer,
		Audience:  t.cfg.Audience,
		IssuedAt:  pc.IssuedAt.UTC(),
		NotBefore: pc.NotBefore.UTC(),
		ExpiresAt: pc.ExpiresAt.UTC(),
	}
	c.SessionStart = c.IssuedAt
	if pc.Session > 0 && pc.Session <= c.IssuedAt.Unix() {
		c.SessionStart = time.Unix(pc.Session, 0).UTC()
	}
	if c.Event != event {
		return Claims{}, ErrWrongEvent
	}
	return c, nil
}

// keyFunc returns the public key named by the token's "kid". jwt has already
// checked that the algorithm is EdDSA.
func (t *Tokens) keyFunc(tok *jwt.Token) (any, error) {
	if _, ok := tok.Header["crit"]; ok {
		// RFC 7515, section 4.1.11: extensions we do not understand must
		// be rejected, and we understand none.
		return nil, ErrMalformed
	}
	kid, _ := tok.Header["kid"].(string)
	pub, ok := t.keys.lookup(kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	return pub, nil
}

// rejection maps an error of jwt.Parser to the package's sentinels. tok and
// pc are what the parser returned and decoded, possibly partially.
func (t *Tokens) rejection(tok *jwt.Token, pc *parsedClaims, err error) error {
	switch {
	case errors.Is(err, ErrUnknownKey):
		return ErrUnknownKey // from keyFunc, wrapped by jwt
	case errors.Is(err, ErrMalformed):
		return ErrMalformed // from keyFunc, wrapped by jwt
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The only other cause: "alg" is missing or names no algorithm
		// jwt knows.
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// jwt reports an algorithm outside WithValidMethods as an invalid
		// signature.
		if tok == nil || tok.Method == nil || tok.Method.Alg() != jwt.SigningMethodEdDSA.Alg() {
			return ErrAlgorithm
		}
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case pc.ExpiresAt == nil:
			return missing("exp")
		case pc.NotBefore == nil:
			return missing("nbf")
		case pc.Issuer == "":
			return missing("iss")
		default:
			return missing("aud")
		}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	}
	// jwt has no other errors today; a new one is treated as malformed
	// rather than let through.
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

func missing(claim string) error {
	return fmt.Errorf("%w %q", ErrMissingClaim, claim)
}
