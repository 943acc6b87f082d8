// Package admission decides who leaves the waiting room: it issues and
// verifies admission tokens, holds the policy that sets how fast visitors
// are admitted, and adapts that rate to what the origin can take.
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
//
// # Adaptive rate
//
// A Controller moves an event's rate between the organizer's MinRate and
// MaxRate, following the seating core's health document
// (ParseSeatingHealth), the origin latency and errors the proxy itself
// observes, and the seats still to sell. The caller decides every Interval
// (one second by default) with Controller.Decide, passing the time in the
// Signal, and puts Decision.Rate in force; each Decision carries an Action,
// fit for a metric label, and a Reason for the log line.
//
// The control law is additive increase, multiplicative decrease (AIMD), as
// in TCP congestion control:
//
//   - While every objective is met (hold p99 ≤ LatencyObjective, hold and
//     origin error rates ≤ ErrorObjective, origin p99 ≤
//     OriginLatencyObjective), the rate rises by Increase per Interval, in
//     proportion to the time since the previous decision and never by more
//     than one step, up to MaxRate.
//   - When any is breached, the rate is multiplied by Decrease at once,
//     never below MinRate. Further cuts wait DecreaseSpacing, because the
//     health signals cover several seconds and keep showing an overload
//     after the cut that answers it. After a cut the rate does not rise for
//     Cooldown.
//   - A stale or insane seating signal holds the rate: the controller never
//     raises blind. Evidence of a breach in the origin part still cuts. When
//     the seating signal stays stale for StaleDecayAfter, the rate decays by
//     Decrease every DecreaseSpacing toward MinRate, since a seating core
//     that cannot answer its health check is likely overloaded.
//
// AIMD was chosen over a gradient controller (one that sets the rate from
// the ratio of measured to target latency, as Netflix's concurrency-limits
// Gradient2 does) because the signal is coarse: percentiles over a 10 s
// window of holds, fetched once a second, and error rates that are 0 most
// of the time. A gradient on such a signal is noisy and needs smoothing
// that slows the reaction to an overload; AIMD reacts to a breach within
// one decision, cannot overshoot by more than one Increase, and converges
// to a fair sawtooth just under what the core sustains. Every step is a
// plain rule an SRE can read in the Reason of a decision.
//
// The inventory caps the rate, below MinRate if need be:
//
//	rate ≤ InventoryFactor × (SeatsLeft + SeatsHeld) ÷ InventoryHorizon
//
// InventoryHorizon is about the time an admitted fan takes to show up in
// the inventory as a hold. Over any stretch of one horizon, the fans
// admitted but not yet reflected in the inventory are then at most
// InventoryFactor times the seats that were left or held during it: the
// controller never admits far more fans than there is left to sell. Held
// seats count because holds that expire return them. With 48,000 seats
// left, 2,000 held, the default factor 1.5 and horizon 60 s, the cap is
// 1,250 visitors per second; with 40 seats it is 1 per second. The rate is
// capped, not remembered above the cap, so that seats coming back raise it
// additively rather than at a jump.
//
// The event is sold out when the seating core reports no seat left and
// none held, for SoldOutAfter (at once by default), with a current
// inventory: a stale snapshot may undercount. Held seats alone do not make
// it sold out, since they may come back. Sold out latches the rate at 0
// until an SRE calls Controller.Reopen. SetBounds and Reset are the other
// overrides; setting equal bounds pins the rate.
//
// Decide never reads the clock: time is in the Signal, and a time earlier
// than the previous decision is taken as no time passed. A Controller
// serves one event and is safe for concurrent use.
package admission
