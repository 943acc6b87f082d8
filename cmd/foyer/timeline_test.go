package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSummarize(t *testing.T) {
	pt := func(s float64, rate float64, left int, p99 float64, held, over int64) timelinePoint {
		return timelinePoint{Seconds: s, Rate: rate, SeatsLeft: left, HoldP99MS: p99, Holds: holdCounts{Held: held, Overloaded: over}}
	}
	for _, tc := range []struct {
		name   string
		points []timelinePoint
		want   timelineSummary
	}{
		{
			name: "sold out, then more refusals",
			points: []timelinePoint{
				pt(1, 100, 1000, 50, 10, 0),
				pt(2, 300, 500, 90, 20, 3),
				pt(3, 200, 30, 70, 30, 4), // 97 %: not yet
				pt(4, 50, 20, 60, 35, 5),  // 98 %: sold out
				pt(5, 900, 15, 400, 36, 9),
				pt(6, 900, 15, 400, 36, 12),
			},
			want: timelineSummary{
				ForSale: 1000, SellOut: 4, SoldOut: true, LastHold: 5,
				RateMin: 50, RateMedian: 150, RateMax: 300, MaxHoldP99MS: 90,
				AtSellOut: holdCounts{Held: 35, Overloaded: 5}, AtEnd: holdCounts{Held: 36, Overloaded: 12},
			},
		},
		{
			name: "never sold out",
			points: []timelinePoint{
				pt(1, 10, -1, 0, 0, 0), // inventory unknown
				pt(2, 30, 900, 20, 5, 1),
				pt(3, 20, 800, 10, 9, 1),
			},
			want: timelineSummary{
				ForSale: 900, LastHold: 3, RateMin: 10, RateMedian: 20, RateMax: 30, MaxHoldP99MS: 20,
				AtSellOut: holdCounts{Held: 9, Overloaded: 1}, AtEnd: holdCounts{Held: 9, Overloaded: 1},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarize(tc.points); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if got := summarize(nil); got != (timelineSummary{}) {
		t.Errorf("no points: got %+v, want the zero summary", got)
	}
}

func TestGatherHolds(t *testing.T) {
	reg := prometheus.NewRegistry()
	holds := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "foyer_seating_holds_total", Help: "h"}, []string{"result"})
	reg.MustRegister(holds)
	for result, n := range map[string]float64{"held": 5, "conflict": 1, "conflict_cached": 2, "no_seats": 3, "cap": 1, "overloaded": 7, "error": 4} {
		holds.WithLabelValues(result).Add(n)
	}
	want := holdCounts{Held: 5, Conflicts: 7, Overloaded: 7, Failed: 4}
	if got := gatherHolds(reg); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestWriteTimelineCSV(t *testing.T) {
	var b bytes.Buffer
	err := writeTimelineCSV(&b, []timelinePoint{{Seconds: 1, Rate: 12.5, SeatsLeft: 7, SeatsHeld: 2, SeatsSold: 1, HoldP99MS: 3.25, Holds: holdCounts{Held: 4, Overloaded: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0]) != len(rows[1]) {
		t.Fatalf("got %d rows %v, want a header and one row of the same width", len(rows), rows)
	}
	got := map[string]string{}
	for i, h := range rows[0] {
		got[h] = rows[1][i]
	}
	for col, want := range map[string]string{"t": "1.0", "rate": "12.5", "seats_left": "7", "hold_p99_ms": "3.25", "held": "4", "overloaded": "2", "failed": "0"} {
		if got[col] != want {
			t.Errorf("column %s: got %q, want %q (header %s)", col, got[col], want, strings.Join(rows[0], ","))
		}
	}
}
