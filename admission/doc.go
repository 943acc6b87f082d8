// Package admission decides who leaves the waiting room: it issues and
// verifies admission tokens, and holds the policy that sets how fast visitors
// are admitted.
//
// # Tokens
//
// When a visitor's turn comes, the proxy calls Tokens.Issue and hands the
// visitor an admission token: a JWT (RFC 7519) signed with EdDSA over Ed25519
// (RFC 8037). Its claims are the issuer ("iss") and audience ("aud") of the
// Config, the visitor ("sub"), the event ("evt"), a random 128-bit id
// ("jti"), and the times it was issued ("iat"), becomes valid ("nbf") and
// expires ("exp"). Every later request of that visitor, at the proxy and at
// the origin, presents the token and is checked by Tokens.Verify.
//
// Verification is strict. Only EdDSA is accepted, so unsigned ("none")
// tokens and tokens signed with HMAC over the public key (algorithm
// confusion) are rejected before any key is used. The header must name a
// key of the key set by its "kid", and keys are never fetched. Issuer,
// audience, event and every time claim are required and checked against the
// caller's clock with a small leeway. Each rejection is reported with one of
// the package's sentinel errors, and Reason turns it into a metric label.
//
// As in golang.org/x/time/rate, time is an argument: Issue and Verify take
// now, and nothing in the package reads the clock.
//
// # Keys and rotation
//
// A KeySet holds one signing key and any number of verification keys, each
// named by its ID. GenerateKey makes a key whose ID is its RFC 7638
// thumbprint. Keys travel as JSON Web Keys (MarshalJWK, ParseJWK, ParseJWKS);
// reading them from files is left to the caller.
//
// To rotate, start signing with a new key and keep the old one in the set as
// a verification key for at least one token TTL, so that tokens it signed
// stay valid until they expire. Then drop it: its tokens fail with
// ErrUnknownKey.
//
// # JWKS
//
// KeySet.JWKS is the public JSON Web Key Set of the key set, which the proxy
// serves so that origins can verify tokens on their own, with this package
// (NewVerifyKeySet over ParseJWKS) or any JOSE library. It never contains
// private keys.
//
// # The verified-token cache
//
// An Ed25519 verification costs tens of microseconds, and every request of
// an admitted visitor is verified, usually with the same token. Tokens
// therefore remember tokens that verified, keyed by their exact bytes, in a
// sharded cache of bounded size (Config.CacheSize). A token found there is
// not verified again, but its expiry, not-before time and event are checked
// against the arguments of each call, so a cached token expires at the same
// instant as one that is not cached. A hit does not allocate. Tokens that
// fail are never cached. When a shard is full, expired entries are dropped
// first and then arbitrary ones; an evicted token is simply verified again.
//
// # Policy
//
// A Policy is an event's admission setting: a rate in visitors per second
// and a pause switch. The proxy keeps the value in force in the queue store,
// where it drives the serving counter, and uses Policy.Wait to estimate how
// long a visitor in line still waits.
package admission
