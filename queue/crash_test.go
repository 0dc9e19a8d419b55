package queue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

const (
	crashDirEnv   = "SLUICE_QUEUE_CRASH_DIR"
	crashBaseEnv  = "SLUICE_QUEUE_CRASH_BASE"
	crashRounds   = 20
	crashWorkers  = 4
	crashMaxRound = 2000 // messages one child may put
)

// crashMessage is message n of the crash test: its header section and a
// body of pseudo-random CRLF lines, from a few bytes to 300 KiB.
func crashMessage(n int) (header, body string) {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	size := r.IntN(4 << 10)
	if r.IntN(4) == 0 {
		size = 64<<10 + r.IntN(236<<10)
	}
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "%d line %x\r\n", n, r.Uint64())
	}
	return fmt.Sprintf("From: seq-%d@crash.test\r\nX-Seq: %d\r\n\r\n", n, n), b.String()
}

// slowReader hands out its data in 16 KiB pieces with a pause between,
// so that a kill often lands while a body is being written.
type slowReader struct{ s string }

func (r *slowReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	time.Sleep(time.Millisecond)
	n := copy(p[:min(len(p), 16<<10)], r.s)
	r.s = r.s[n:]
	return n, nil
}

// TestCrashChild is the process TestCrash kills: it puts messages from
// several goroutines and prints "ID N" for each Put that returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	base, _ := strconv.Atoi(os.Getenv(crashBaseEnv))
	q, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var next atomic.Int64
	var out sync.Mutex
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := base + int(next.Add(1))
				if n >= base+crashMaxRound {
					return
				}
				header, body := crashMessage(n)
				rec := Record{From: envelope.Address{Addr: fmt.Sprintf("seq-%d@crash.test", n)},
					Rcpts: []Rcpt{{Address: envelope.Address{Addr: "rcpt@crash.test"}}}}
				var src io.Reader = strings.NewReader(body)
				if n%3 == 0 {
					src = &slowReader{body}
				}
				id, err := q.Put(context.Background(), rec, []byte(header), src)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "%s %d\n", id, n) // one write: atomic on a pipe
				out.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// TestCrash kills a process that puts messages with SIGKILL at random
// moments, crashRounds times. After each kill the queue is reopened:
// every message whose Put returned (and was printed) is there with
// exactly its bytes, anything else is a whole message a worker was
// committing when it died (at most one per worker), and no temp file or
// moved-aside record is left.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total, midway := 0, 0
	for round := range crashRounds {
		delay := time.Duration(rnd.IntN(400)) * time.Millisecond
		printed, stderr := crashRound(t, dir, round*crashMaxRound, delay)
		total += len(printed)
		if verifyAfterCrash(t, dir, printed, round, delay, stderr) {
			midway++
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("%d rounds (%d killed with drafts on disk), %d acknowledged messages verified", crashRounds, midway, total)
	if total == 0 {
		t.Error("no child acknowledged any message: the test proved nothing")
	}
}

// crashRound starts a child, kills it after delay, and returns the IDs it
// printed (ID → message number) and its standard error.
func crashRound(t *testing.T, dir string, base int, delay time.Duration) (map[string]int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashBaseEnv+"="+strconv.Itoa(base))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	printed := map[string]int{}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			id, n, ok := strings.Cut(sc.Text(), " ")
			if v, err := strconv.Atoi(n); ok && err == nil {
				printed[id] = v
			}
		}
	}()
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-lines
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
		t.Fatalf("child failed (exit %d): %s", ee.ExitCode(), stderr.String())
	}
	return printed, stderr.String()
}

// verifyAfterCrash checks the spool after a kill, empties it, and reports
// whether recovery found unfinished drafts.
func verifyAfterCrash(t *testing.T, dir string, printed map[string]int, round int, delay time.Duration, stderr string) bool {
	t.Helper()
	var logs logBuffer
	q, err := Open(Options{Dir: dir, Logger: logs.logger()})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer q.Close()
	where := fmt.Sprintf("round %d (killed after %v)", round, delay)
	recs, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	found, extras := map[string]bool{}, 0
	for _, r := range recs {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.From.Addr, "seq-"), "@crash.test"))
		if err != nil {
			t.Errorf("%s: message %s from %q", where, r.ID, r.From.Addr)
			continue
		}
		header, body := crashMessage(n)
		if got := readContent(t, q, r.ID); got != header+body {
			t.Errorf("%s: message %s (#%d) has %d bytes, want exactly the %d put", where, r.ID, n, len(got), len(header+body))
		}
		if want, ok := printed[r.ID]; ok {
			if want != n {
				t.Errorf("%s: message %s holds #%d, the child printed #%d", where, r.ID, n, want)
			}
			found[r.ID] = true
		} else {
			extras++
		}
	}
	for id, n := range printed {
		if !found[id] {
			t.Errorf("%s: acknowledged message %s (#%d) is lost", where, id, n)
		}
	}
	if extras > crashWorkers {
		t.Errorf("%s: %d unacknowledged messages, at most %d could be committing", where, extras, crashWorkers)
	}
	for _, sub := range []string{"tmp", "bad"} {
		if names := dirNames(t, filepath.Join(dir, sub)); len(names) != 0 {
			t.Errorf("%s: %s/ holds %v after recovery\n%s", where, sub, names, logs.String())
		}
	}
	for _, n := range dirNames(t, filepath.Join(dir, "q")) { // big messages only, no record update
		if !strings.HasSuffix(n, ".msg") {
			t.Errorf("%s: q/ holds %s", where, n)
		}
	}
	for _, r := range recs { // keep the spool small for the next round
		if err := q.Delete(context.Background(), r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if segs := dirNames(t, filepath.Join(dir, "log")); len(segs) > 1 {
		t.Errorf("%s: log/ holds %v with the queue empty, want at most the current segment", where, segs)
	}
	if t.Failed() && stderr != "" {
		t.Logf("child stderr:\n%s", stderr)
	}
	return strings.Contains(logs.String(), "removed files of unfinished messages")
}
