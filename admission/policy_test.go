package admission

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		ok     bool
	}{
		{"zero", Policy{}, true},
		{"fraction", Policy{RatePerSecond: 0.25}, true},
		{"maximum", Policy{RatePerSecond: MaxRatePerSecond}, true},
		{"paused", Policy{RatePerSecond: 100, Paused: true}, true},
		{"negative", Policy{RatePerSecond: -1}, false},
		{"too fast", Policy{RatePerSecond: MaxRatePerSecond + 1}, false},
		{"NaN", Policy{RatePerSecond: math.NaN()}, false},
		{"infinite", Policy{RatePerSecond: math.Inf(1)}, false},
		{"minus infinity", Policy{RatePerSecond: math.Inf(-1)}, false},
		{"invalid while paused", Policy{RatePerSecond: -1, Paused: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.ok {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "admission: rate_per_second ") {
				t.Errorf("got %v, want an error naming rate_per_second", err)
			}
		})
	}
}

func TestPolicyEffective(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   float64
	}{
		{"zero", Policy{}, 0},
		{"running", Policy{RatePerSecond: 12.5}, 12.5},
		{"paused", Policy{RatePerSecond: 12.5, Paused: true}, 0},
		{"negative", Policy{RatePerSecond: -3}, 0},
		{"NaN", Policy{RatePerSecond: math.NaN()}, 0},
		{"infinite", Policy{RatePerSecond: math.Inf(1)}, 0},
		{"too fast", Policy{RatePerSecond: 2e6}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Effective(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPolicyWait(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		ahead  uint64
		want   time.Duration
		known  bool
	}{
		{"next in line", Policy{RatePerSecond: 10}, 0, 0, true},
		{"ten per second", Policy{RatePerSecond: 10}, 25, 2500 * time.Millisecond, true},
		{"one every four seconds", Policy{RatePerSecond: 0.25}, 3, 12 * time.Second, true},
		{"a million ahead at the maximum rate", Policy{RatePerSecond: MaxRatePerSecond}, 1_000_000, time.Second, true},
		{"paused", Policy{RatePerSecond: 10, Paused: true}, 25, 0, false},
		{"rate zero", Policy{}, 25, 0, false},
		{"invalid rate", Policy{RatePerSecond: math.NaN()}, 25, 0, false},
		{"beyond a Duration", Policy{RatePerSecond: 1e-9}, math.MaxUint64, 0, false},
		{"just within a Duration", Policy{RatePerSecond: 1}, 9_000_000_000, 9_000_000_000 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := tt.policy.Wait(tt.ahead)
			if got != tt.want || known != tt.known {
				t.Errorf("got %v, %v, want %v, %v", got, known, tt.want, tt.known)
			}
		})
	}
}
