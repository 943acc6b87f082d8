package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/internal/redistest"
)

// The end-to-end tests drive the built foyer binary over HTTP, as a
// deployment would run it.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// foyerBinary builds cmd/foyer once per test run.
func foyerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "foyer-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "foyer")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// foyerProc is a running foyer serve.
type foyerProc struct {
	cmd       *exec.Cmd
	publicURL string
	adminURL  string
	stdout    *lockedBuffer
	stderr    *lockedBuffer
	exited    chan error
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var urlLine = regexp.MustCompile(`(fan|admin|seating) URL:\s+(http://[^/\s]+)`)

// startFoyer runs foyer serve with the given configuration and waits until it
// prints its URLs.
func startFoyer(t *testing.T, config string, env ...string) *foyerProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "foyer.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return startFoyerArgs(t, []string{"serve", "--config", path}, env...)
}

// startFoyerArgs runs foyer with args and waits until it prints its URLs.
func startFoyerArgs(t *testing.T, args []string, env ...string) *foyerProc {
	t.Helper()
	cmd := exec.Command(foyerBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	p := &foyerProc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan [2]string, 2)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.stdout.Write(append(sc.Bytes(), '\n'))
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- [2]string{m[1], m[2]}
			}
		}
		close(urls)
	}()
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("foyer stderr:\n%s", p.stderr.String())
		}
	})
	timeout := time.After(60 * time.Second)
	for p.publicURL == "" || p.adminURL == "" {
		select {
		case u, ok := <-urls:
			if !ok {
				t.Fatalf("foyer exited before serving:\n%s", p.stderr.String())
			}
			if u[0] == "fan" || u[0] == "seating" {
				p.publicURL = u[1]
			} else {
				p.adminURL = u[1]
			}
		case <-timeout:
			t.Fatalf("foyer did not start within 60s:\n%s", p.stderr.String())
		}
	}
	return p
}

const e2eAdminToken = "e2e-admin-token"

func (p *foyerProc) admin(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, p.adminURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %d, %v", method, path, resp.StatusCode, err)
	}
	return m
}

// recordingOrigin records the visitor id of every request that reaches it.
type recordingOrigin struct {
	*httptest.Server
	mu       sync.Mutex // guards visitors
	visitors []string
}

func newRecordingOrigin(t *testing.T) *recordingOrigin {
	o := &recordingOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.visitors = append(o.visitors, r.Header.Get("Foyer-Visitor"))
		o.mu.Unlock()
		io.WriteString(w, "inside")
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *recordingOrigin) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.visitors...)
}

// fan is one simulated visitor.
type fan struct {
	ticket   string
	position int
	token    string
}

var fanClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

func apiCall(t *testing.T, method, url string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := fanClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// parallel runs f(i) for i in [0, n) on 32 goroutines.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// tokenSubject reads the visitor out of an admission token (no verification:
// the origin checks it came through Foyer).
func tokenSubject(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub string }
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}

// runAdmissionScenario is the end-to-end scenario: fans join a paused line
// through the given proxies in turn; the line is opened for two windows;
// the number admitted must be rate × open time within ±2%, admission order
// must equal join order, and only admitted fans reach the origin, carrying
// their visitor id.
func runAdmissionScenario(t *testing.T, procs []*foyerProc, origin *recordingOrigin, fans int, rate float64, window time.Duration) {
	t.Helper()
	via := func(i int) *foyerProc { return procs[i%len(procs)] }
	crowd := make([]fan, fans)
	// Sequential joins define the join order.
	for i := range crowd {
		code, doc := apiCall(t, "POST", via(i).publicURL+"/_foyer/v1/events/show/join")
		if code != 200 || doc["state"] != "paused" {
			t.Fatalf("join %d: %d %v", i, code, doc)
		}
		crowd[i] = fan{ticket: doc["ticket"].(string), position: int(doc["position"].(float64))}
	}
	seen := map[int]bool{}
	for i, f := range crowd {
		if f.position != i+1 || seen[f.position] {
			t.Fatalf("fan %d got position %d, want %d: positions must be unique and in join order", i, f.position, i+1)
		}
		seen[f.position] = true
	}

	var openFor time.Duration
	for w := range 2 {
		opened := procs[0].admin(t, "PATCH", "/admin/v1/events/show", `{"state":"open"}`)
		time.Sleep(window)
		closed := procs[len(procs)-1].admin(t, "PATCH", "/admin/v1/events/show", `{"state":"paused"}`)
		t0, err0 := time.Parse(time.RFC3339Nano, opened["updated_at"].(string))
		t1, err1 := time.Parse(time.RFC3339Nano, closed["updated_at"].(string))
		if err0 != nil || err1 != nil {
			t.Fatal(err0, err1)
		}
		openFor += t1.Sub(t0)
		want := rate * openFor.Seconds()
		serving := waitServingAgrees(t, procs)
		if d := float64(serving) - want; d > 0.02*want || d < -0.02*want {
			t.Fatalf("window %d: %d admitted after %v open at %g/s, want %.0f ± 2%%", w, serving, openFor, rate, want)
		}
		t.Logf("window %d: %d admitted after %v open at %g/s (expected %.1f)", w, serving, openFor, rate, want)

		// Every fan asks; exactly the first `serving` fans in join order are in.
		var mu sync.Mutex
		admitted := 0
		parallel(len(crowd), func(i int) {
			code, doc := apiCall(t, "GET", via(i+1).publicURL+"/_foyer/v1/events/show/status", "Foyer-Ticket", crowd[i].ticket)
			if code != 200 {
				t.Errorf("status of fan %d: %d %v", i, code, doc)
				return
			}
			in := doc["state"] == "admitted"
			if in != (i < int(serving)) {
				t.Errorf("fan %d (position %d): admitted=%v with serving %d: admission order must equal join order", i, crowd[i].position, in, serving)
			}
			if in {
				mu.Lock()
				admitted++
				crowd[i].token = doc["admission_token"].(string)
				mu.Unlock()
			}
		})
		if admitted != int(serving) {
			t.Fatalf("window %d: %d fans admitted, want %d", w, admitted, serving)
		}
	}

	// Everyone tries the site itself; only admitted fans get in.
	var mu sync.Mutex
	want := map[string]bool{}
	parallel(len(crowd), func(i int) {
		f := crowd[i]
		if f.token == "" {
			code, doc := apiCall(t, "GET", via(i).publicURL+"/inside", "Foyer-Ticket", f.ticket)
			if code != 200 || doc["state"] != "paused" {
				t.Errorf("waiting fan %d on the site: %d %v, want the status document", i, code, doc)
			}
			return
		}
		mu.Lock()
		want[tokenSubject(t, f.token)] = true
		mu.Unlock()
		req, _ := http.NewRequest("GET", via(i).publicURL+"/inside", nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := fanClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "inside" {
			t.Errorf("admitted fan %d: %d %q, want the origin", i, resp.StatusCode, body)
		}
	})
	got := origin.seen()
	if len(got) != len(want) {
		t.Fatalf("origin saw %d requests, want %d (one per admitted fan, none from the others)", len(got), len(want))
	}
	for _, v := range got {
		if !want[v] {
			t.Errorf("origin saw visitor %q, who was not admitted", v)
		}
	}
}

// waitServingAgrees waits until every proxy's cached serving counter agrees
// (the line is paused, so it stops moving) and returns it.
func waitServingAgrees(t *testing.T, procs []*foyerProc) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var vals []uint64
		for _, p := range procs {
			ev := p.admin(t, "GET", "/admin/v1/events/show", "")
			vals = append(vals, uint64(ev["serving"].(float64)))
		}
		same := true
		for _, v := range vals {
			same = same && v == vals[0]
		}
		if same {
			time.Sleep(300 * time.Millisecond) // one more refresh round must not move it
			ev := procs[0].admin(t, "GET", "/admin/v1/events/show", "")
			if uint64(ev["serving"].(float64)) == vals[0] {
				return vals[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxies disagree on the serving counter: %v", vals)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func e2eConfig(origin string, store string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
admin_token: %s
shutdown:
  drain_delay: 1s
%s
events:
  - name: show
    path_prefix: /
    origin: %s
    rate_per_second: 200
    paused: true
`, e2eAdminToken, store, origin)
}

func TestE2EMemoryStore(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	origin := newRecordingOrigin(t)
	p := startFoyer(t, e2eConfig(origin.URL, "store:\n  kind: memory"))
	runAdmissionScenario(t, []*foyerProc{p}, origin, 2000, 200, 2500*time.Millisecond)
}

func TestE2ETwoProxiesShareRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	srv := redistest.Start(t)
	origin := newRecordingOrigin(t)
	key, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := admission.MarshalJWK(key, true)
	keyPath := filepath.Join(t.TempDir(), "signing.jwk")
	if err := os.WriteFile(keyPath, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	store := fmt.Sprintf("store:\n  kind: redis\n  redis:\n    addrs: [%q]\ntokens:\n  signing_key: %s", srv.Addr(), keyPath)
	secret := "FOYER_TICKET_SECRET=" + strings.Repeat("k", 40)
	a := startFoyer(t, e2eConfig(origin.URL, store), secret)
	b := startFoyer(t, e2eConfig(origin.URL, store), secret)
	runAdmissionScenario(t, []*foyerProc{a, b}, origin, 2000, 200, 2500*time.Millisecond)
}

// TestE2EGracefulShutdown: on SIGTERM /readyz turns 503 first, a request in
// flight finishes, then the process exits cleanly.
func TestE2EGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "finished")
	}))
	t.Cleanup(slow.Close)
	cfg := strings.Replace(e2eConfig(slow.URL, "store:\n  kind: memory"), "paused: true", "paused: false", 1)
	cfg = strings.Replace(cfg, "drain_delay: 1s", "drain_delay: 2s", 1)
	p := startFoyer(t, cfg)
	_, doc := apiCall(t, "POST", p.publicURL+"/_foyer/v1/events/show/join")
	for doc["state"] != "admitted" {
		time.Sleep(50 * time.Millisecond)
		_, doc = apiCall(t, "GET", p.publicURL+"/_foyer/v1/events/show/status", "Foyer-Ticket", doc["ticket"].(string))
	}
	inflight := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", p.publicURL+"/slow", nil)
		req.Header.Set("Authorization", "Bearer "+doc["admission_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- "error: " + err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- string(body)
	}()
	time.Sleep(200 * time.Millisecond) // let the request reach the slow origin
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(p.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Past the drain delay the listener is closed, but the process waits
	// for the request in flight.
	select {
	case err := <-p.exited:
		t.Fatalf("exited (%v) with a request in flight", err)
	case <-time.After(3 * time.Second):
	}
	close(release)
	if got := <-inflight; got != "finished" {
		t.Errorf("in-flight request: got %q, want it to finish", got)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("exit: %v, want a clean exit", err)
		}
		p.exited <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit after draining")
	}
}

// TestE2EDemo runs foyer serve as the README's first command does (on free
// ports): the printed fan URL serves the queue page, and the printed admin
// token opens the admin API.
func TestE2EDemo(t *testing.T) {
	p := startFoyerArgs(t, []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--seating-listen", "127.0.0.1:0"})
	req, _ := http.NewRequest("GET", p.publicURL+"/", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := fanClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `role="status"`) || !strings.Contains(string(body), "Foyer demo on-sale") {
		t.Fatalf("fan URL: got %d, want the demo queue page:\n%s", resp.StatusCode, body)
	}
	var ticket string
	for _, c := range resp.Cookies() {
		if c.Name == "foyer_ticket_demo" {
			ticket = c.Value
		}
	}
	_, doc := apiCall(t, "GET", p.publicURL+"/_foyer/v1/events/demo/status", "Foyer-Ticket", ticket)
	if pos, _ := doc["position"].(float64); doc["state"] != "waiting" || pos < 1 || pos > demoCrowd+1 {
		t.Errorf("demo fan status: %v, want waiting behind the simulated crowd", doc)
	}
	m := regexp.MustCompile(`admin token: (\S+)`).FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("no admin token printed:\n%s", p.stdout.String())
	}
	req, _ = http.NewRequest("GET", p.adminURL+"/admin/v1/events/demo", nil)
	req.Header.Set("Authorization", "Bearer "+m[1])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin API with the printed token: got %d, want 200", resp.StatusCode)
	}

	// Speed the line up, get in, and reach the seat picker and the seating
	// API through the proxy with the admission token.
	req, _ = http.NewRequest("PATCH", p.adminURL+"/admin/v1/events/demo", strings.NewReader(`{"rate_per_second": 200}`))
	req.Header.Set("Authorization", "Bearer "+m[1])
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("raising the demo rate: %v %v", err, resp)
	}
	resp.Body.Close()
	var token string
	for deadline := time.Now().Add(10 * time.Second); token == ""; {
		if time.Now().After(deadline) {
			t.Fatal("not admitted within 10s at 200/s")
		}
		time.Sleep(50 * time.Millisecond)
		_, doc = apiCall(t, "GET", p.publicURL+"/_foyer/v1/events/demo/status", "Foyer-Ticket", ticket)
		token, _ = doc["admission_token"].(string)
	}
	req, _ = http.NewRequest("GET", p.publicURL+"/", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = fanClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "pick your seats") {
		t.Fatalf("admitted fan: got %d, want the seat picker", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", p.publicURL+"/seating/v1/events/demo/holds", strings.NewReader(`{"seats":["N1-1-1"]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = fanClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var hold map[string]any
	json.NewDecoder(resp.Body).Decode(&hold)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("hold through the proxy: %d %v", resp.StatusCode, hold)
	}
	code, sold := apiCall(t, "POST", p.publicURL+"/seating/v1/events/demo/holds/"+hold["hold_id"].(string)+"/confirm", "Authorization", "Bearer "+token)
	if code != 200 || sold["state"] != "sold" {
		t.Errorf("confirm through the proxy: %d %v", code, sold)
	}
}

// TestE2ESeatingService runs foyer seating with a venue made by foyer venue
// generate: the static map is public, holds need an admission token signed
// by the proxy's key, and a hold and its confirmation go through.
func TestE2ESeatingService(t *testing.T) {
	dir := t.TempDir()
	venue := filepath.Join(dir, "arena.json")
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"venue", "generate", "--seats", "5000", "--stands", "4", "--out", venue}, os.Getenv, &out, &errOut); err != nil {
		t.Fatalf("venue generate: %v %s", err, errOut.String())
	}
	key, _ := admission.GenerateKey(rand.Reader)
	jwk, _ := admission.MarshalJWK(key, true)
	keyPath := filepath.Join(dir, "signing.jwk")
	os.WriteFile(keyPath, jwk, 0o600)
	ks, _ := admission.NewKeySet(key)
	// The seating service gets only the public JWKS, as an origin would.
	jwksPath := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwksPath, ks.JWKS(), 0o644)
	cfg := fmt.Sprintf(`seating_listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
admin_token: %s
tokens:
  verify_keys: [%s]
seating:
  events:
    - name: show
      venue_file: %s
`, e2eAdminToken, jwksPath, venue)
	path := filepath.Join(dir, "seating.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	p := startFoyerArgs(t, []string{"seating", "--config", path})
	api := p.publicURL + "/seating/v1/events/show"
	if code, _ := apiCall(t, "GET", api+"/venue"); code != 200 {
		t.Fatalf("venue: %d", code)
	}
	if code, doc := apiCall(t, "POST", api+"/holds"); code != 401 {
		t.Errorf("hold without a token: %d %v, want 401", code, doc)
	}
	tokens, _ := admission.NewTokens(admission.Config{}, ks)
	tok, _, _ := tokens.Issue("fan-1", "show", time.Now())
	req, _ := http.NewRequest("POST", api+"/holds", strings.NewReader(`{"seats":["N1-1-1","N1-1-2"]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := fanClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var hold map[string]any
	json.NewDecoder(resp.Body).Decode(&hold)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("hold: %d %v", resp.StatusCode, hold)
	}
	code, sold := apiCall(t, "POST", api+"/holds/"+hold["hold_id"].(string)+"/confirm", "Authorization", "Bearer "+tok)
	if code != 200 || sold["state"] != "sold" {
		t.Errorf("confirm: %d %v", code, sold)
	}
	var check strings.Builder
	if err := run(t.Context(), []string{"config", "check", path}, func(string) string { return "" }, &check, &errOut); err != nil || !strings.Contains(check.String(), "1 seating events") {
		t.Errorf("config check of the seating config: %v %q", err, check.String())
	}
}
