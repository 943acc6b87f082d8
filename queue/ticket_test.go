package queue_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

var (
	secret1 = []byte("0123456789abcdef0123456789abcdef")
	secret2 = []byte("fedcba9876543210fedcba9876543210")
	key1    = queue.TicketKey{ID: "k1", Secret: secret1}
	key2    = queue.TicketKey{ID: "k2", Secret: secret2}
	sample  = queue.Ticket{Event: "demo", Visitor: "Zm9vYmFyYmF6cXV4cXV1eA", Seq: 1234567, Epoch: 1_700_000_000_123_456, IssuedAt: time.Unix(1_700_000_000, 0).UTC()}
)

func newSigner(t testing.TB, active queue.TicketKey, verifyOnly ...queue.TicketKey) *queue.TicketSigner {
	t.Helper()
	s, err := queue.NewTicketSigner(active, verifyOnly...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forge signs an arbitrary payload the way a v1 ticket is signed, so tests
// can build texts the signer would never write.
func forge(secret []byte, kid, payload string) string {
	signed := "v1." + kid + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func sameTicket(a, b queue.Ticket) bool {
	return a.Event == b.Event && a.Visitor == b.Visitor && a.Seq == b.Seq && a.Epoch == b.Epoch && a.IssuedAt.Equal(b.IssuedAt)
}

func TestTicketRoundTrip(t *testing.T) {
	s := newSigner(t, key1)
	tests := []struct {
		name string
		in   queue.Ticket
		want queue.Ticket // in, with IssuedAt as Parse returns it
	}{
		{"Sample", sample, sample},
		{"LongestNames", queue.Ticket{Event: strings.Repeat("e", 64), Visitor: strings.Repeat("V", 64), Seq: math.MaxUint64, Epoch: math.MaxUint64, IssuedAt: time.Unix(math.MinInt64, 0)},
			queue.Ticket{Event: strings.Repeat("e", 64), Visitor: strings.Repeat("V", 64), Seq: math.MaxUint64, Epoch: math.MaxUint64, IssuedAt: time.Unix(math.MinInt64, 0)}},
		{"ShortestNames", queue.Ticket{Event: "a", Visitor: "-", IssuedAt: time.Unix(0, 0)}, queue.Ticket{Event: "a", Visitor: "-", IssuedAt: time.Unix(0, 0)}},
		{"ZeroTime", queue.Ticket{Event: "ev", Visitor: "v", Seq: 1, Epoch: 1}, queue.Ticket{Event: "ev", Visitor: "v", Seq: 1, Epoch: 1}},
		{"SubsecondTruncated", queue.Ticket{Event: "ev", Visitor: "v", IssuedAt: time.Unix(5, 999_999_999)}, queue.Ticket{Event: "ev", Visitor: "v", IssuedAt: time.Unix(5, 0)}},
		{"NegativeTime", queue.Ticket{Event: "ev", Visitor: "v", IssuedAt: time.Unix(-1, 0)}, queue.Ticket{Event: "ev", Visitor: "v", IssuedAt: time.Unix(-1, 0)}},
	}
	format := regexp.MustCompile(`^v1\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := s.Sign(tt.in)
			if !format.MatchString(text) || len(text) > queue.MaxTicketLen {
				t.Errorf("Sign got %q (%d bytes), want v1.<kid>.<payload>.<mac> of at most %d bytes", text, len(text), queue.MaxTicketLen)
			}
			got, err := s.Parse([]byte(text))
			if err != nil {
				t.Fatalf("Parse(%q): %v", text, err)
			}
			if !sameTicket(got, tt.want) {
				t.Errorf("Parse got %+v, want %+v", got, tt.want)
			}
			if got.IssuedAt.Location() != time.UTC {
				t.Errorf("got IssuedAt in %v, want UTC", got.IssuedAt.Location())
			}
			if again := s.Sign(got); again != text {
				t.Errorf("re-signing got %q, want %q", again, text)
			}
		})
	}
}

func TestTicketIsHMACOfText(t *testing.T) {
	s := newSigner(t, key1)
	want := forge(secret1, "k1", "demo|Zm9vYmFyYmF6cXV4cXV1eA|1234567|1700000000123456|1700000000")
	if got := s.Sign(sample); got != want {
		t.Errorf("Sign got %q, want %q", got, want)
	}
	prefix := []byte("ticket=")
	if got := s.Append(bytes.Clone(prefix), sample); string(got) != string(prefix)+want {
		t.Errorf("Append got %q, want %q", got, string(prefix)+want)
	}
}

func TestTicketKeyRotation(t *testing.T) {
	old := newSigner(t, key1)
	rotating := newSigner(t, key2, key1)
	retired := newSigner(t, key2)
	sameIDOtherSecret := newSigner(t, queue.TicketKey{ID: "k1", Secret: secret2})
	oldText := []byte(old.Sign(sample))
	newText := []byte(rotating.Sign(sample))
	if !bytes.HasPrefix(newText, []byte("v1.k2.")) {
		t.Errorf("rotating signer got %q, want it signed with k2", newText)
	}
	tests := []struct {
		name    string
		signer  *queue.TicketSigner
		text    []byte
		wantErr error
	}{
		{"OldByOld", old, oldText, nil},
		{"OldByRotating", rotating, oldText, nil},
		{"NewByRotating", rotating, newText, nil},
		{"NewByRetired", retired, newText, nil},
		{"OldByRetired", retired, oldText, queue.ErrTicketUnknownKey},
		{"NewByOld", old, newText, queue.ErrTicketUnknownKey},
		{"OldBySameIDOtherSecret", sameIDOtherSecret, oldText, queue.ErrTicketSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.signer.Parse(tt.text)
			if err != tt.wantErr {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err == nil && !sameTicket(got, sample) {
				t.Errorf("got %+v, want %+v", got, sample)
			}
		})
	}
}

func TestTicketParseRejects(t *testing.T) {
	s := newSigner(t, key1)
	valid := s.Sign(sample)
	dot := strings.LastIndexByte(valid, '.')
	flip := func(text string, i int) string {
		b := []byte(text)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// The MAC's last character carries 2 unused bits; setting one is a
	// second spelling of the same bytes.
	lastMAC := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", valid[len(valid)-1])
	nonCanonical := valid[:len(valid)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[lastMAC^1])
	tests := []struct {
		name string
		text string
		want error
	}{
		{"Empty", "", queue.ErrTicketMalformed},
		{"OtherVersion", "v2" + valid[2:], queue.ErrTicketMalformed},
		{"Garbage", "hello world", queue.ErrTicketMalformed},
		{"NoKeyID", "v1..x.y", queue.ErrTicketMalformed},
		{"KeyIDTooLong", "v1." + strings.Repeat("k", 17) + valid[5:], queue.ErrTicketMalformed},
		{"UnknownKey", "v1.k9" + valid[5:], queue.ErrTicketUnknownKey},
		{"UnknownKeyBeforeFormat", "v1.k9.garbage", queue.ErrTicketUnknownKey},
		{"TruncatedMAC", valid[:len(valid)-1], queue.ErrTicketMalformed},
		{"NoMAC", valid[:dot], queue.ErrTicketMalformed},
		{"ExtraMACByte", valid + "A", queue.ErrTicketMalformed},
		{"ExtraPart", valid[:dot] + ".AAAA" + valid[dot:], queue.ErrTicketMalformed},
		{"NonCanonicalMAC", nonCanonical, queue.ErrTicketMalformed},
		{"NewlineInPayload", valid[:10] + "\n" + valid[10:], queue.ErrTicketMalformed},
		{"TooLong", valid + strings.Repeat("A", queue.MaxTicketLen), queue.ErrTicketMalformed},
		{"AlteredPayload", flip(valid, 8), queue.ErrTicketSignature},
		{"AlteredMAC", flip(valid, dot+3), queue.ErrTicketSignature},
		{"SignedFourFields", forge(secret1, "k1", "demo|v|1|2"), queue.ErrTicketMalformed},
		{"SignedSixFields", forge(secret1, "k1", "demo|v|x|1|2|3"), queue.ErrTicketMalformed},
		{"SignedUpperEvent", forge(secret1, "k1", "Demo|v|1|2|3"), queue.ErrTicketMalformed},
		{"SignedEmptyVisitor", forge(secret1, "k1", "demo||1|2|3"), queue.ErrTicketMalformed},
		{"SignedLeadingZero", forge(secret1, "k1", "demo|v|01|2|3"), queue.ErrTicketMalformed},
		{"SignedPlusSign", forge(secret1, "k1", "demo|v|+1|2|3"), queue.ErrTicketMalformed},
		{"SignedSeqOverflow", forge(secret1, "k1", "demo|v|18446744073709551616|2|3"), queue.ErrTicketMalformed},
		{"SignedNegativeZero", forge(secret1, "k1", "demo|v|1|2|-0"), queue.ErrTicketMalformed},
		{"SignedTimeOverflow", forge(secret1, "k1", "demo|v|1|2|9223372036854775808"), queue.ErrTicketMalformed},
		{"SignedTimeUnderflow", forge(secret1, "k1", "demo|v|1|2|-9223372036854775809"), queue.ErrTicketMalformed},
		{"SignedEmptyNumber", forge(secret1, "k1", "demo|v||2|3"), queue.ErrTicketMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Parse([]byte(tt.text)); err != tt.want {
				t.Errorf("Parse(%q) got error %v, want %v", tt.text, err, tt.want)
			}
		})
	}
}

func TestNewTicketSignerRejects(t *testing.T) {
	tests := []struct {
		name       string
		active     queue.TicketKey
		verifyOnly []queue.TicketKey
	}{
		{"EmptyID", queue.TicketKey{ID: "", Secret: secret1}, nil},
		{"LongID", queue.TicketKey{ID: strings.Repeat("k", 17), Secret: secret1}, nil},
		{"DotInID", queue.TicketKey{ID: "k.1", Secret: secret1}, nil},
		{"ShortSecret", queue.TicketKey{ID: "k", Secret: secret1[:31]}, nil},
		{"BadVerifyOnly", key1, []queue.TicketKey{{ID: "k2", Secret: nil}}},
		{"DuplicateID", key1, []queue.TicketKey{{ID: "k1", Secret: secret2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := queue.NewTicketSigner(tt.active, tt.verifyOnly...)
			if err == nil || s != nil || !strings.HasPrefix(err.Error(), "queue: ") {
				t.Errorf("got %v, %v, want nil and an error starting %q", s, err, "queue: ")
			}
		})
	}
	long := queue.TicketKey{ID: strings.Repeat("K", 16), Secret: secret1}
	if s := newSigner(t, long); s.KeyID() != long.ID {
		t.Errorf("got key id %q, want %q", s.KeyID(), long.ID)
	}
}

func TestTicketSignerCopiesSecret(t *testing.T) {
	secret := bytes.Clone(secret1)
	s := newSigner(t, queue.TicketKey{ID: "k1", Secret: secret})
	text := s.Sign(sample)
	secret[0] ^= 0xff
	if _, err := s.Parse([]byte(text)); err != nil {
		t.Errorf("after the caller changed its secret: got %v, want nil", err)
	}
	if got := s.Sign(sample); got != text {
		t.Errorf("after the caller changed its secret: got %q, want %q", got, text)
	}
}

func TestTicketSignerConcurrent(t *testing.T) {
	s := newSigner(t, key2, key1)
	old := []byte(newSigner(t, key1).Sign(sample))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				tk := sample
				tk.Seq = uint64(g*1000 + i)
				got, err := s.Parse([]byte(s.Sign(tk)))
				if err != nil || got.Seq != tk.Seq {
					t.Errorf("got %+v, %v, want seq %d", got, err, tk.Seq)
					return
				}
				if _, err := s.Parse(old); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestTicketAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	s := newSigner(t, key2, key1)
	text := []byte(s.Sign(sample))
	forged := bytes.Clone(text)
	if i := len(forged) - 5; forged[i] == 'A' {
		forged[i] = 'B'
	} else {
		forged[i] = 'A'
	}
	buf := make([]byte, 0, queue.MaxTicketLen)
	tests := []struct {
		name string
		f    func()
		want float64
	}{
		{"Parse", func() { s.Parse(text) }, 1},
		{"ParseForged", func() { s.Parse(forged) }, 0},
		{"Sign", func() { s.Sign(sample) }, 1},
		{"AppendWithRoom", func() { s.Append(buf[:0], sample) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, tt.f); got > tt.want {
				t.Errorf("got %v allocations a call, want at most %v", got, tt.want)
			}
		})
	}
}

func TestValidNames(t *testing.T) {
	tests := []struct {
		name        string
		s           string
		wantEvent   bool
		wantVisitor bool
	}{
		{"Empty", "", false, false},
		{"Lower", "summer-tour_2026", true, true},
		{"Upper", "Summer", false, true},
		{"Longest", strings.Repeat("a", 64), true, true},
		{"TooLong", strings.Repeat("a", 65), false, false},
		{"Bar", "a|b", false, false},
		{"Dot", "a.b", false, false},
		{"Colon", "a:b", false, false},
		{"Brace", "a{b}", false, false},
		{"Space", "a b", false, false},
		{"NonASCII", "café", false, false},
		{"NUL", "a\x00", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queue.ValidEvent(tt.s); got != tt.wantEvent {
				t.Errorf("ValidEvent(%q) got %v, want %v", tt.s, got, tt.wantEvent)
			}
			if got := queue.ValidVisitor(tt.s); got != tt.wantVisitor {
				t.Errorf("ValidVisitor(%q) got %v, want %v", tt.s, got, tt.wantVisitor)
			}
		})
	}
}

func TestNewVisitorID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := queue.NewVisitorID()
		if !queue.ValidVisitor(id) || len(id) != 22 {
			t.Fatalf("got %q, want 22 bytes valid per ValidVisitor", id)
		}
		if seen[id] {
			t.Fatalf("got %q twice", id)
		}
		seen[id] = true
	}
}

func FuzzTicketParse(f *testing.F) {
	s, err := queue.NewTicketSigner(key1)
	if err != nil {
		f.Fatal(err)
	}
	valid := s.Sign(sample)
	f.Add([]byte(valid))
	f.Add([]byte(s.Sign(queue.Ticket{Event: strings.Repeat("e", 64), Visitor: strings.Repeat("V", 64), Seq: math.MaxUint64, Epoch: math.MaxUint64, IssuedAt: time.Unix(math.MinInt64, 0)})))
	f.Add([]byte(newSigner(f, key2).Sign(sample)))
	f.Add([]byte(forge(secret1, "k1", "demo|v|01|2|3")))
	f.Add([]byte(forge(secret1, "k1", "a|b|c|d|e|f")))
	f.Add([]byte(forge(secret2, "k1", "demo|v|1|2|3")))
	for i := 0; i < len(valid); i += 7 {
		f.Add([]byte(valid[:i]))
	}
	f.Add([]byte("v1.k1.."))
	f.Add([]byte("v1.k1.\n\n.\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		tk, err := s.Parse(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("Parse changed its input")
		}
		if err != nil {
			if !errors.Is(err, queue.ErrTicketMalformed) && !errors.Is(err, queue.ErrTicketSignature) && !errors.Is(err, queue.ErrTicketUnknownKey) {
				t.Fatalf("Parse(%q) got error %v, want a ticket sentinel", b, err)
			}
			return
		}
		if again := s.Sign(tk); again != string(b) {
			t.Fatalf("Parse(%q) = %+v re-signs to %q", b, tk, again)
		}
	})
}

// FuzzTicketPayload signs fuzzed payloads with the right key, reaching the
// payload parser that FuzzTicketParse's inputs rarely get past the MAC to.
func FuzzTicketPayload(f *testing.F) {
	s, err := queue.NewTicketSigner(key1)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{
		"demo|Zm9vYmFyYmF6cXV4cXV1eA|1234567|1700000000123456|1700000000",
		"demo|v|0|0|-62135596800",
		"demo|v|01|2|3",
		"demo|v|18446744073709551615|18446744073709551616|-9223372036854775808",
		"a|b|c|d|e|f",
		"||||",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		text := forge(secret1, "k1", payload)
		tk, err := s.Parse([]byte(text))
		if err != nil {
			if len(text) <= queue.MaxTicketLen && err != queue.ErrTicketMalformed {
				t.Fatalf("Parse(%q) got error %v, want nil or ErrTicketMalformed", text, err)
			}
			return
		}
		if again := s.Sign(tk); again != text {
			t.Fatalf("payload %q parsed to %+v re-signs to %q, want %q", payload, tk, again, text)
		}
	})
}

func BenchmarkTicketParse(b *testing.B) {
	s := newSigner(b, key2, key1)
	text := []byte(s.Sign(sample))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTicketSign(b *testing.B) {
	s := newSigner(b, key1)
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(sample)
	}
}

func BenchmarkTicketAppend(b *testing.B) {
	s := newSigner(b, key1)
	buf := make([]byte, 0, queue.MaxTicketLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.Append(buf[:0], sample)
	}
}

func BenchmarkTicketParseParallel(b *testing.B) {
	s := newSigner(b, key1)
	text := []byte(s.Sign(sample))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Parse(text); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
