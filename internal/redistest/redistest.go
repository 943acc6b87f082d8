// Package redistest starts real, throwaway redis-server processes for tests:
// no persistence, a free port on 127.0.0.1, a temporary directory, killed
// when the test ends.
//
// Tests that need Redis call Start. Where redis-server is not installed they
// are skipped, unless FOYER_REQUIRE_REDIS=1 or CI=true, where they fail and
// say what to install.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 15 * time.Second

// Server is a running redis-server owned by one test. It is safe for
// concurrent use, though Restart while other goroutines use the server
// makes their commands fail, as a real crash would.
type Server struct {
	bin  string
	dir  string
	addr string

	// mu guards proc.
	mu   sync.Mutex
	proc *process
}

// process is one run of redis-server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
}

// Start starts a redis-server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redistest: redis-server not found in PATH; install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)"
		if os.Getenv("FOYER_REQUIRE_REDIS") == "1" || os.Getenv("CI") == "true" {
			t.Fatal(msg + " — required because FOYER_REQUIRE_REDIS=1 or CI=true")
		}
		t.Skip(msg)
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	t.Cleanup(s.stop)
	// Another process may take the free port before redis-server binds
	// it; try a few ports.
	var errs []error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.launch(); err == nil {
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: starting redis-server: %v", errors.Join(errs...))
	return nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Client returns a client of the server, closed when t ends. Its retries are
// off, so a test sees each failure.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// Restart kills the server with SIGKILL and starts it again on the same
// port with nothing in it, as a crash of a Redis without persistence would.
// Clients see their pooled connections fail once, then reconnect.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.launch()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: restarting redis-server on %s: %v", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CommandStats returns how many times the server ran each command since it
// started, from INFO commandstats: e.g. "evalsha", "hget" (commands run by
// scripts count too), "client|setinfo".
func (s *Server) CommandStats(t testing.TB) map[string]int64 {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("redistest: INFO commandstats: %v", err)
	}
	stats, err := ParseCommandStats(info)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return stats
}

// ParseCommandStats parses the text of INFO commandstats into calls per
// command.
func ParseCommandStats(info string) (map[string]int64, error) {
	stats := make(map[string]int64)
	for line := range strings.Lines(info) {
		line = strings.TrimSpace(line)
		name, fields, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		found := false
		for f := range strings.SplitSeq(fields, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats line %q: %v", line, err)
				}
				stats[strings.TrimPrefix(name, "cmdstat_")] = n
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("commandstats line %q has no calls=", line)
		}
	}
	return stats, nil
}

// launch starts redis-server on s.addr and waits until it answers PING.
func (s *Server) launch() error {
	_, port, _ := net.SplitHostPort(s.addr)
	logPath := filepath.Join(s.dir, "redis-"+port+".log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.bin,
		"--port", port,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
	)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		pid, err := ping(s.addr)
		if err == nil && pid == cmd.Process.Pid {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("redis-server exited: %s", tail(logPath))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			if err == nil {
				err = fmt.Errorf("port answered by process %d, not %d", pid, cmd.Process.Pid)
			}
			return fmt.Errorf("no answer within %v: %v; log: %s", startTimeout, err, tail(logPath))
		}
	}
}

// stop kills the running process, if any, and waits for it to exit.
func (s *Server) stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// ping sends PING and INFO server over a raw connection and returns the
// answering process's id, so a server that took our port is not mistaken
// for ours.
func ping(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "PING\r\nINFO server\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "+PONG\r\n" {
		return 0, fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	line, err = r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
	if err != nil || !strings.HasPrefix(line, "$") {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(line))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
