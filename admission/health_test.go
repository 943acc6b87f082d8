package admission

import (
	"math"
	"strings"
	"testing"
	"time"
)

// seatingHealth is the example of docs/seating.md, with a second event.
const seatingHealth = `{"status":"ok","window_seconds":10,"holds_per_second":412.3,"error_rate":0,
 "hold_latency_ms":{"p50":0.41,"p95":1.2,"p99":2.8},
 "events":[{"event":"finals","seats_left":48211,"seats_held":1180,"seats_sold":609},
           {"event":"semis","seats_left":0,"seats_held":0,"seats_sold":900,"stale":false}]}`

func TestParseSeatingHealth(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		event string
		want  Signal
	}{
		{"the documented example", seatingHealth, "finals", Signal{HoldLatencyP99: 2800 * time.Microsecond, SeatsLeft: 48211, SeatsHeld: 1180, InventoryKnown: true}},
		{"sold out event", seatingHealth, "semis", Signal{HoldLatencyP99: 2800 * time.Microsecond, InventoryKnown: true}},
		{"event not listed", seatingHealth, "quarters", Signal{HoldLatencyP99: 2800 * time.Microsecond}},
		{"stale inventory", `{"error_rate":0.25,"hold_latency_ms":{"p99":412},"events":[{"event":"e","seats_left":0,"seats_held":0,"seats_sold":5,"stale":true}]}`, "e",
			Signal{HoldLatencyP99: 412 * time.Millisecond, HoldErrorRate: 0.25}},
		{"unknown members ignored", `{"error_rate":1,"hold_latency_ms":{"p99":0,"p999":9},"events":[],"new":{"x":[1]}}`, "e", Signal{HoldErrorRate: 1}},
		{"no holds yet", `{"status":"ok","error_rate":0,"hold_latency_ms":{"p50":0,"p95":0,"p99":0},"events":[{"event":"e","seats_left":10,"seats_held":0,"seats_sold":0}]}`, "e",
			Signal{SeatsLeft: 10, InventoryKnown: true}},
		{"white space around", " \n" + seatingHealth + "\n ", "finals", Signal{HoldLatencyP99: 2800 * time.Microsecond, SeatsLeft: 48211, SeatsHeld: 1180, InventoryKnown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSeatingHealth([]byte(tt.doc), tt.event)
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSeatingHealthErrors(t *testing.T) {
	const lat, ev = `"hold_latency_ms":{"p99":1}`, `{"event":"e","seats_left":1,"seats_held":1,"seats_sold":1}`
	tests := []struct {
		name, doc, want string
	}{
		{"empty", ``, "seating health: EOF"},
		{"not JSON", `ok`, "seating health: invalid character"},
		{"null", `null`, "seating health is null"},
		{"array", `[]`, "seating health: json: cannot unmarshal array"},
		{"trailing data", `{"error_rate":0,` + lat + `,"events":[]} {}`, "data after the object"},
		{"truncated", `{"error_rate":0,` + lat, "seating health: unexpected EOF"},
		{"no error_rate", `{` + lat + `,"events":[]}`, "seating health has no error_rate"},
		{"error_rate in capitals", `{"Error_Rate":0,` + lat + `,"events":[]}`, "seating health has no error_rate"},
		{"error_rate null", `{"error_rate":null,` + lat + `,"events":[]}`, "seating health.error_rate is null"},
		{"error_rate a string", `{"error_rate":"0",` + lat + `,"events":[]}`, "seating health.error_rate: json: cannot unmarshal string"},
		{"error_rate above 1", `{"error_rate":1.5,` + lat + `,"events":[]}`, "error_rate is 1.5, want between 0 and 1"},
		{"error_rate negative", `{"error_rate":-0.1,` + lat + `,"events":[]}`, "error_rate is -0.1"},
		{"no latency", `{"error_rate":0,"events":[]}`, "seating health has no hold_latency_ms"},
		{"latency not an object", `{"error_rate":0,"hold_latency_ms":3,"events":[]}`, "hold_latency_ms: json: cannot unmarshal number"},
		{"no p99", `{"error_rate":0,"hold_latency_ms":{"p50":1},"events":[]}`, "hold_latency_ms has no p99"},
		{"p99 negative", `{"error_rate":0,"hold_latency_ms":{"p99":-1},"events":[]}`, "hold_latency_ms.p99 is -1"},
		{"p99 huge", `{"error_rate":0,"hold_latency_ms":{"p99":1e300},"events":[]}`, "hold_latency_ms.p99 is 1e+300"},
		{"p99 overflows", `{"error_rate":0,"hold_latency_ms":{"p99":1e999},"events":[]}`, "hold_latency_ms.p99: json: cannot unmarshal number 1e999"},
		{"no events", `{"error_rate":0,` + lat + `}`, "seating health has no events"},
		{"events null", `{"error_rate":0,` + lat + `,"events":null}`, "seating health.events is null"},
		{"events an object", `{"error_rate":0,` + lat + `,"events":{}}`, "seating health.events: json: cannot unmarshal object"},
		{"event not an object", `{"error_rate":0,` + lat + `,"events":[1]}`, "events[0]: json: cannot unmarshal number"},
		{"event without a name", `{"error_rate":0,` + lat + `,"events":[{"seats_left":1,"seats_held":1,"seats_sold":1}]}`, "events[0] has no event"},
		{"seats_left missing", `{"error_rate":0,` + lat + `,"events":[{"event":"e","seats_held":1,"seats_sold":1}]}`, "events[0] has no seats_left"},
		{"seats_held negative", `{"error_rate":0,` + lat + `,"events":[{"event":"e","seats_left":1,"seats_held":-1,"seats_sold":1}]}`, "events[0].seats_held is -1, want at least 0"},
		{"seats_left a fraction", `{"error_rate":0,` + lat + `,"events":[{"event":"e","seats_left":1.5,"seats_held":1,"seats_sold":1}]}`, "events[0].seats_left: json: cannot unmarshal number 1.5"},
		{"stale not a bool", `{"error_rate":0,` + lat + `,"events":[{"event":"e","seats_left":1,"seats_held":1,"seats_sold":1,"stale":"yes"}]}`, "events[0].stale: json: cannot unmarshal string"},
		{"event twice", `{"error_rate":0,` + lat + `,"events":[` + ev + `,` + ev + `]}`, `events[1]: event "e" is listed twice`},
		{"too long", `{"error_rate":0,"pad":"` + strings.Repeat("x", maxHealthLen) + `"}`, "want at most 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSeatingHealth([]byte(tt.doc), "e")
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", got, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "admission: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want an error starting with admission: and containing %q", err, tt.want)
			}
			if got != (Signal{}) {
				t.Errorf("got %+v with an error, want the zero Signal", got)
			}
		})
	}
}

// FuzzParseSeatingHealth checks that the decoder never panics and that what
// it accepts is a sane signal, which the controller keeps within bounds.
func FuzzParseSeatingHealth(f *testing.F) {
	f.Add([]byte(seatingHealth), "finals")
	f.Add([]byte(seatingHealth), "semis")
	f.Add([]byte(`{"error_rate":0.5,"hold_latency_ms":{"p99":999999999},"events":[{"event":"","seats_left":0,"seats_held":0,"seats_sold":0,"stale":true}]}`), "")
	f.Add([]byte(`{"error_rate":0,"hold_latency_ms":{"p99":0},"events":[]}`), "e")
	f.Fuzz(func(t *testing.T, b []byte, event string) {
		s, err := ParseSeatingHealth(b, event)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "admission: ") {
				t.Fatalf("got error %q, want it to start with admission: ", err)
			}
			return
		}
		if !s.seatingValid() || s.SeatsLeft < 0 || s.SeatsHeld < 0 || (!s.InventoryKnown && (s.SeatsLeft != 0 || s.SeatsHeld != 0)) {
			t.Fatalf("accepted an insane signal %+v", s)
		}
		c := newController(t, ControllerConfig{MinRate: 1, MaxRate: 100})
		for i := range 3 {
			s.At = at(i)
			if d := c.Decide(s); !finite(d.Rate) || d.Rate < 0 || d.Rate > 100 || math.Signbit(d.Rate) {
				t.Fatalf("%+v: got rate %v", s, d.Rate)
			}
		}
	})
}
