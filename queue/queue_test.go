package queue_test

import (
	"testing"

	"github.com/foyerhq/foyer/queue"
)

func TestStatePlace(t *testing.T) {
	fresh := queue.State{Epoch: 100, Serving: 10, Tail: 50}
	recreated := queue.State{Epoch: 200, Serving: 10, Tail: 80, PrevEpoch: 100, Carried: 50}
	tests := []struct {
		name         string
		state        queue.State
		seq, epoch   uint64
		wantStanding queue.Standing
		wantPos      uint64
	}{
		{"CurrentEpochWaiting", fresh, 11, 100, queue.Waiting, 1},
		{"CurrentEpochFar", fresh, 50, 100, queue.Waiting, 40},
		{"CurrentEpochTurnAtServing", fresh, 10, 100, queue.Turn, 0},
		{"CurrentEpochTurnBelowServing", fresh, 1, 100, queue.Turn, 0},
		{"OlderEpochNeverCarried", fresh, 11, 99, queue.Lost, 0},
		{"ZeroEpoch", fresh, 11, 0, queue.Lost, 0},
		{"NewerEpochThanCachedState", fresh, 60, 300, queue.Waiting, 50},
		{"NewerEpochTurn", fresh, 5, 300, queue.Turn, 0},
		{"CarriedWaiting", recreated, 30, 100, queue.Waiting, 20},
		{"CarriedAtLimit", recreated, 50, 100, queue.Waiting, 40},
		{"CarriedTurn", recreated, 3, 100, queue.Turn, 0},
		{"PrevEpochAboveCarried", recreated, 51, 100, queue.Lost, 0},
		{"EpochBeforePrev", recreated, 3, 99, queue.Lost, 0},
		{"RecreatedCurrent", recreated, 51, 200, queue.Waiting, 41},
		{"FreshLineIgnoresZeroPrevEpoch", queue.State{Epoch: 100, Carried: 5}, 1, 0, queue.Lost, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pos := tt.state.Place(queue.Ticket{Event: "ev", Visitor: "v", Seq: tt.seq, Epoch: tt.epoch})
			if got != tt.wantStanding || pos != tt.wantPos {
				t.Errorf("Place(seq %d, epoch %d) got %v %d, want %v %d", tt.seq, tt.epoch, got, pos, tt.wantStanding, tt.wantPos)
			}
		})
	}
}

func TestStateWaiting(t *testing.T) {
	tests := []struct {
		serving, tail, want uint64
	}{
		{0, 0, 0},
		{0, 5, 5},
		{5, 5, 0},
		{3, 5, 2},
		{7, 5, 0},
	}
	for _, tt := range tests {
		if got := (queue.State{Serving: tt.serving, Tail: tt.tail}).Waiting(); got != tt.want {
			t.Errorf("State{Serving: %d, Tail: %d}.Waiting() got %d, want %d", tt.serving, tt.tail, got, tt.want)
		}
	}
}

func TestStandingString(t *testing.T) {
	tests := []struct {
		s    queue.Standing
		want string
	}{
		{queue.Waiting, "waiting"},
		{queue.Turn, "turn"},
		{queue.Lost, "lost"},
		{queue.Standing(42), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Standing(%d).String() got %q, want %q", int(tt.s), got, tt.want)
		}
	}
}
