package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/loadtest"
)

// TestScenarios loads every scenario of configs/scenarios and checks its
// load test validates.
func TestScenarios(t *testing.T) {
	t.Chdir("../..")
	files, _ := filepath.Glob("configs/scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios in configs/scenarios")
	}
	for _, f := range files {
		sc, err := loadScenario(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := sc.config("http://127.0.0.1:1").Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := loadScenario("no-such-scenario"); err == nil {
		t.Error("an unknown scenario loaded")
	}
}

// rehearse runs the ci-small scenario against a deployment in this process
// and checks the figures the surge simulator exists to prove.
func rehearse(t *testing.T, redisAddr string) {
	t.Chdir("../..")
	sc, err := loadScenario("ci-small")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := startRehearsal(ctx, sc, redisAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	res, err := loadtest.Run(ctx, sc.config(st.url), nil)
	if err != nil {
		t.Fatal(err)
	}
	var summary bytes.Buffer
	loadtest.Summary(&summary, res)
	t.Logf("%s", summary.String())
	if res.Joined != sc.Fans {
		t.Errorf("joined %d of %d fans", res.Joined, sc.Fans)
	}
	if res.Admitted == 0 || res.SeatsSold == 0 {
		t.Fatalf("admitted %d, sold %d: the journey did not reach the seats", res.Admitted, res.SeatsSold)
	}
	if res.Oversold != 0 {
		t.Errorf("oversold %d seats, want 0", res.Oversold)
	}
	if res.RateError > 0.05 {
		t.Errorf("worst 10-second admission rate error %.1f%%, want within ±5%%", 100*res.RateError)
	}
	if res.Inversions != 0 || res.OutOfTurn != 0 {
		t.Errorf("%d fans admitted out of arrival order, %d out of turn; want 0", res.Inversions, res.OutOfTurn)
	}
	// The JSON carries the contract's fields; the report renders.
	var js bytes.Buffer
	if err := loadtest.WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal(js.Bytes(), &fields)
	for _, f := range []string{"fans", "joined", "admitted", "abandoned", "seats_sold", "oversold", "configured_rate", "admitted_per_second", "rate_error", "kendall_tau", "eta_error_median", "eta_error_p90", "latency_ms"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("JSON summary lacks %q", f)
		}
	}
	report := filepath.Join(t.TempDir(), "report.html")
	f, _ := os.Create(report)
	if err := loadtest.WriteHTML(f, res); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(report); !strings.Contains(string(b), "<svg") {
		t.Error("the report has no chart")
	}
}

func TestRehearsalCISmall(t *testing.T) { rehearse(t, "") }

func TestRehearsalCISmallRedis(t *testing.T) {
	srv := redistest.Start(t)
	rehearse(t, srv.Addr())
}
