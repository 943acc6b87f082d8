package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestSchedulerOrder(t *testing.T) {
	s := newScheduler(time.Now(), []time.Duration{10, 30, 50})
	s.schedule(7, 20)
	s.schedule(8, 5)
	s.schedule(9, 30)
	var got []job
	for {
		j, wait, ok := s.take(40)
		if !ok {
			if wait != 10 {
				t.Errorf("wait for the arrival at 50 = %v, want 10ns", wait)
			}
			break
		}
		got = append(got, j)
	}
	want := []job{{5, 8}, {10, 0}, {20, 7}, {30, 1}, {30, 9}}
	if len(got) != len(want) {
		t.Fatalf("took %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("job %d = %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
}

// TestSchedulerRunsOnTime checks that actions are handed out at their time
// and that a blocked hand-out keeps the action's scheduled time.
func TestSchedulerRunsOnTime(t *testing.T) {
	start := time.Now()
	s := newScheduler(start, []time.Duration{20 * time.Millisecond, 40 * time.Millisecond})
	jobs := make(chan job)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.run(ctx, jobs)
	first := <-jobs
	if at := time.Since(start); at < 20*time.Millisecond {
		t.Errorf("the first action came at %v, before its time 20ms", at)
	}
	time.Sleep(60 * time.Millisecond) // nobody takes the second: it waits
	second := <-jobs
	if first.at != int64(20*time.Millisecond) || second.at != int64(40*time.Millisecond) {
		t.Errorf("scheduled times %v, %v; want 20ms, 40ms (kept while queued)", first.at, second.at)
	}
}

func TestSummaryAndJSON(t *testing.T) {
	r := &Result{Target: "http://x", Event: "drop", Fans: 10, Admitted: 9, Oversold: 2, SeatsSold: 5,
		LatencyMS: map[string]Latency{"status": {Count: 3, P99: 1.5}}, Errors: map[string]int64{"timeout": 1}}
	var b bytes.Buffer
	if err := Summary(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 OVERSOLD", "status", "timeout 1", "9 admitted"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := WriteJSON(&b, r); err != nil || !strings.Contains(b.String(), `"oversold": 2`) {
		t.Errorf("WriteJSON = %v:\n%s", err, b.String())
	}
}
