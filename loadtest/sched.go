package loadtest

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// job is one due action of one fan: the fan's index and the time the
// action was scheduled for (ns from the start of the run). Latency is
// measured from that time, not from when a worker got to it.
type job struct {
	at  int64
	fan int32
}

type jobHeap []job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)        { *h = append(*h, x.(job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}

// scheduler hands fans' actions to workers at their times (open model: an
// action is due at its time whatever the answers to earlier ones). Arrivals
// come from a sorted slice, every later action from a min-heap, so a
// million pending arrivals cost no heap operations. Safe for concurrent
// use.
type scheduler struct {
	start    time.Time
	arrivals []time.Duration // sorted; fan i arrives at arrivals[i]

	mu   sync.Mutex // guards next and heap
	next int        // the next fan to arrive
	heap jobHeap

	wake chan struct{} // a nudge when an earlier action was scheduled
}

func newScheduler(start time.Time, arrivals []time.Duration) *scheduler {
	return &scheduler{start: start, arrivals: arrivals, wake: make(chan struct{}, 1)}
}

// now is the time since the start of the run, in ns.
func (s *scheduler) now() int64 { return int64(time.Since(s.start)) }

// schedule makes fan's next action due at ns from the start.
func (s *scheduler) schedule(fan int32, at int64) {
	s.mu.Lock()
	heap.Push(&s.heap, job{at: at, fan: fan})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the earliest action if it is due at now (ns);
// otherwise it returns how long until the earliest (an hour if none).
func (s *scheduler) take(now int64) (j job, wait time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hasArrival := s.next < len(s.arrivals)
	switch {
	case hasArrival && (len(s.heap) == 0 || int64(s.arrivals[s.next]) <= s.heap[0].at):
		j = job{at: int64(s.arrivals[s.next]), fan: int32(s.next)}
		if j.at <= now {
			s.next++
			return j, 0, true
		}
	case len(s.heap) > 0:
		j = s.heap[0]
		if j.at <= now {
			heap.Pop(&s.heap)
			return j, 0, true
		}
	default:
		return job{}, time.Hour, false
	}
	return job{}, time.Duration(j.at - now), false
}

// run sends due actions to jobs until ctx is done. When every worker is
// busy the send blocks; the waiting actions keep their scheduled times, so
// the queueing delay is counted in their latency.
func (s *scheduler) run(ctx context.Context, jobs chan<- job) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		j, wait, ok := s.take(s.now())
		if ok {
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			continue
		}
		// Since Go 1.23, Reset needs no drained channel.
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}
