package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/queue"
)

// Lane is one of the weighted lanes an event splits its admissions between
// (e.g. accessibility 10, presale 30, general 60). Admissions are dealt to
// the lanes in proportion to their weights while each has visitors waiting;
// a lane nobody is waiting in gives its share to the others (queue.Lanes).
//
// A lane with neither invite codes nor an enqueue secret is open: visitors
// without an invitation join it. At most one lane is open; an event whose
// lanes are all closed takes only invited visitors.
type Lane struct {
	// Name identifies the lane in status documents and logs:
	// [a-z0-9_-]{1,32}.
	Name string
	// Weight is the lane's share of admissions, relative to the others.
	Weight int
	// InviteCodes enter the lane, one place per code: a code presented
	// again, by anyone, returns the same place.
	InviteCodes []string
	// EnqueueSecret verifies signed enqueue tokens from the organizer's
	// own system: HS256 JWTs with "evt" (the event), "lane" (this lane's
	// name), "sub" (the invite key: one place per key) and "exp". At least
	// 32 bytes.
	EnqueueSecret []byte
}

// Headers and query parameters of invitations.
const (
	headerInvite   = "Foyer-Invite"
	headerEnqueue  = "Foyer-Enqueue-Token"
	queryInvite    = "foyer_invite"
	queryEnqueue   = "foyer_enqueue"
	invitedPrefix  = "inv-"
	maxInviteBytes = 4096
)

var laneName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// validateLanes checks the lanes of event e (field prefix f).
func validateLanes(f string, e Event) error {
	if len(e.Lanes) == 0 {
		return nil
	}
	fe := func(field, format string, args ...any) error {
		return &FieldError{Field: f + "." + field, Err: fmt.Errorf(format, args...)}
	}
	if len(e.Lanes) < 2 || len(e.Lanes) > 16 {
		return fe("lanes", "must list 2 to 16 lanes, got %d", len(e.Lanes))
	}
	if !e.SaleStartsAt.IsZero() {
		return fe("lanes", "cannot be combined with sale_starts_at (a pre-queue) yet")
	}
	names := map[string]bool{}
	codes := map[string]string{}
	open := ""
	weights := make([]int, len(e.Lanes))
	for i, l := range e.Lanes {
		lf := fmt.Sprintf("lanes[%d]", i)
		if !laneName.MatchString(l.Name) {
			return fe(lf+".name", "%q must match [a-z0-9_-]{1,32}", l.Name)
		}
		if names[l.Name] {
			return fe(lf+".name", "%q is used by another lane", l.Name)
		}
		names[l.Name] = true
		if l.Weight <= 0 {
			return fe(lf+".weight", "must be positive, got %d", l.Weight)
		}
		weights[i] = l.Weight
		if len(l.EnqueueSecret) > 0 && len(l.EnqueueSecret) < 32 {
			return fe(lf+".enqueue_secret", "must be at least 32 bytes, got %d", len(l.EnqueueSecret))
		}
		for _, c := range l.InviteCodes {
			if c == "" || len(c) > 128 || strings.ContainsAny(c, " \t\r\n") {
				return fe(lf+".invite_codes", "a code must be 1 to 128 characters without spaces")
			}
			if other, ok := codes[c]; ok {
				return fe(lf+".invite_codes", "code %q is also a code of lane %q", c, other)
			}
			codes[c] = l.Name
		}
		if len(l.InviteCodes) == 0 && len(l.EnqueueSecret) == 0 {
			if open != "" {
				return fe(lf, "lanes %q and %q are both open (no invite codes, no enqueue secret); at most one may be", open, l.Name)
			}
			open = l.Name
		}
	}
	if _, err := queue.ReduceLaneWeights(weights); err != nil {
		return fe("lanes", "weights divided by their greatest common divisor must sum to at most 100")
	}
	return nil
}

// eventLanes is the runtime of an event's lanes.
type eventLanes struct {
	weights []int          // nil: one lane
	names   []string       // by index
	open    int            // index of the open lane, or -1
	codes   map[string]int // invite code → lane
	secrets [][]byte       // enqueue secret by lane (nil: none)
}

func newEventLanes(e Event) eventLanes {
	el := eventLanes{open: 0}
	if len(e.Lanes) == 0 {
		return el
	}
	el.open = -1
	el.codes = map[string]int{}
	for i, l := range e.Lanes {
		el.weights = append(el.weights, l.Weight)
		el.names = append(el.names, l.Name)
		el.secrets = append(el.secrets, l.EnqueueSecret)
		for _, c := range l.InviteCodes {
			el.codes[c] = i
		}
		if len(l.InviteCodes) == 0 && len(l.EnqueueSecret) == 0 {
			el.open = i
		}
	}
	return el
}

// name is the name of the lane of seq in line s, or "" without lanes.
func (el *eventLanes) name(s queue.State, seq uint64) string {
	if el.names == nil || s.Lanes == nil || seq == 0 {
		return ""
	}
	return el.names[s.Lanes.Lane(seq)]
}

// Errors of invitations, answered with 403.
var (
	errInviteInvalid  = errors.New("invite code or enqueue token not valid for this event")
	errInviteRequired = errors.New("this event takes invited visitors only: an invite code or enqueue token is required")
)

// invitation reads the request's invitation: an invite code or a signed
// enqueue token, from a header (apps) or the query (links). It returns the
// lane and the visitor id of the invitation's place, ok false when the
// request carries none, or an error when it carries one that is not valid.
func (el *eventLanes) invitation(ctx *fasthttp.RequestCtx, event string, now time.Time) (lane int, visitor string, ok bool, err error) {
	if el.names == nil {
		return 0, "", false, nil
	}
	pick := func(header, query string) []byte {
		if v := ctx.Request.Header.Peek(header); len(v) > 0 {
			return v
		}
		return ctx.QueryArgs().Peek(query)
	}
	if code := pick(headerInvite, queryInvite); len(code) > 0 {
		i, found := el.codes[string(code)]
		if !found {
			return 0, "", false, errInviteInvalid
		}
		return i, invitedVisitor(event, el.names[i], "code", string(code)), true, nil
	}
	tok := pick(headerEnqueue, queryEnqueue)
	if len(tok) == 0 {
		return 0, "", false, nil
	}
	if len(tok) > maxInviteBytes {
		return 0, "", false, errInviteInvalid
	}
	i, key, err := el.verifyEnqueue(string(tok), event, now)
	if err != nil {
		return 0, "", false, errInviteInvalid
	}
	return i, invitedVisitor(event, el.names[i], "key", key), true, nil
}

// enqueueClaims are the claims of a signed enqueue token.
type enqueueClaims struct {
	jwt.RegisteredClaims
	Event string `json:"evt"`
	Lane  string `json:"lane"`
}

// verifyEnqueue checks an enqueue token and returns its lane and key.
func (el *eventLanes) verifyEnqueue(tok, event string, now time.Time) (int, string, error) {
	var c enqueueClaims
	lane := -1
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(30*time.Second),
	).ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		for i, n := range el.names {
			if n == c.Lane && len(el.secrets[i]) > 0 {
				lane = i
				return el.secrets[i], nil
			}
		}
		return nil, errInviteInvalid
	})
	switch {
	case err != nil:
		return 0, "", err
	case c.Event != event:
		return 0, "", errInviteInvalid
	case c.Subject == "" || len(c.Subject) > 128:
		return 0, "", errInviteInvalid
	}
	return lane, c.Subject, nil
}

// invitedVisitor is the visitor id of an invitation's place: derived from
// the invitation, so it gives one place per invite key however often and by
// whomever it is presented. Clients cannot ask for ids with its prefix
// (requestedVisitor), so knowing a key's id is no way into its place.
func invitedVisitor(event, lane, kind, key string) string {
	h := sha256.Sum256([]byte("foyer-lane-v1\x00" + event + "\x00" + lane + "\x00" + kind + "\x00" + key))
	return invitedPrefix + base64.RawURLEncoding.EncodeToString(h[:24])
}
