package queue

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	runCrashRounds     = 15
	runCrashDrainEvery = 5 // every 5th round (and the last) empties the spool
)

// runCrashState is what the children said since the spool was last
// emptied; the spool is kept from round to round in between.
type runCrashState struct {
	known     map[string]int      // acknowledged (P) or found queued after a crash: ID → message number
	delivered map[string]bool     // D: accepted by a deliverer at least once
	deleting  map[string]bool     // x: Delete was called (it may have finished)
	deleted   map[string]bool     // X: Delete returned
	trail     map[string][]string // ID → "round:event", for failure reports
}

func newRunCrashState() *runCrashState {
	return &runCrashState{known: map[string]int{}, delivered: map[string]bool{}, deleting: map[string]bool{},
		deleted: map[string]bool{}, trail: map[string][]string{}}
}

// runCrashRound is one child's life.
type runCrashRound struct {
	n        int
	delay    time.Duration
	counts   map[string]int  // lines of each kind
	redone   map[string]bool // delivered (D) in this round
	readErrs []string        // E lines about messages nobody was deleting
	deleting map[string]bool // x in this round
	stderr   strings.Builder
}

func newRunCrashRound(n int, delay time.Duration) *runCrashRound {
	return &runCrashRound{n: n, delay: delay, redone: map[string]bool{}, counts: map[string]int{}, deleting: map[string]bool{}}
}

func (r *runCrashRound) where() string {
	return fmt.Sprintf("round %d (killed %v after opening)", r.n, r.delay)
}

// TestCrashRunner kills, with SIGKILL 50 to 600ms after it opened the
// queue, a process in which the runner delivers (the deliverer checks
// each message's bytes, accepts it, and defers every fifth attempt so
// that records change and logged messages move to q/), four goroutines
// put small and big messages, and another holds, releases and deletes
// them. The spool
// is kept between rounds (so each recovery starts from what the previous
// ones left) and emptied every runCrashDrainEvery rounds. After each
// kill, the reopened queue holds every acknowledged message that was not
// deleted and never accepted by the deliverer, with exactly its bytes;
// no deleted message; at most one unacknowledged message per putter; at
// most one accepted message per delivery worker that was accepted in that
// round and is still queued; nothing in tmp/ or bad/. Emptying the spool
// leaves at most one log segment and an empty q/.
func TestCrashRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir, err := os.MkdirTemp("", "sluice-runcrash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spool kept for inspection in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	st := newRunCrashState()
	total, redone := map[string]int{}, 0
	for n := range runCrashRounds {
		r := newRunCrashRound(n, time.Duration(50+rnd.IntN(551))*time.Millisecond)
		runCrashChild(t, dir, st, r)
		redone += verifyRunCrash(t, dir, st, r)
		for k, v := range r.counts {
			total[k] += v
		}
		if !t.Failed() && (n%runCrashDrainEvery == runCrashDrainEvery-1 || n == runCrashRounds-1) {
			drainRunCrash(t, dir, r)
			st = newRunCrashState()
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("%d rounds: %d puts, %d deliveries (%d found still queued), %d holds, %d releases, %d deletes "+
		"(%d while being delivered); recovery found %d torn segment ends and %d rounds with files in tmp/",
		runCrashRounds, total["P"], total["D"], redone, total["H"], total["U"], total["X"], total["E"],
		total["torn"], total["tmp"])
	if total["P"] == 0 {
		t.Error("no child acknowledged any message: the test proved nothing")
	}
}

// runCrashChild starts a child, kills it r.delay after it opened the
// queue, and records what it printed.
func runCrashChild(t *testing.T, dir string, st *runCrashState, r *runCrashRound) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRunnerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), runCrashDirEnv+"="+dir, runCrashBaseEnv+"="+strconv.Itoa((r.n+1)*runCrashMaxPuts))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready, lines := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "R" {
				close(ready)
				continue
			}
			st.apply(r, sc.Text())
		}
	}()
	select {
	case <-ready:
		time.Sleep(r.delay)
	case <-lines: // it died before opening the queue
	case <-time.After(30 * time.Second):
		t.Errorf("round %d: the child did not open the queue within 30s", r.n)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-lines
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
		t.Fatalf("round %d: child failed (exit %d): %s", r.n, ee.ExitCode(), r.stderr.String())
	}
}

// apply records one line of the child's output.
func (st *runCrashState) apply(r *runCrashRound, line string) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	id := f[1]
	st.trail[id] = append(st.trail[id], fmt.Sprintf("%d:%s", r.n, f[0]))
	r.counts[f[0]]++
	switch f[0] {
	case "P":
		if len(f) == 3 {
			n, _ := strconv.Atoi(f[2])
			st.known[id] = n
		}
	case "D":
		st.delivered[id] = true
		r.redone[id] = true
	case "E":
		if !r.deleting[id] {
			r.readErrs = append(r.readErrs, line)
		}
	case "x":
		r.deleting[id] = true
		st.deleting[id] = true
	case "X":
		st.deleted[id] = true
	}
}

// verifyRunCrash reopens the spool after a kill and checks it (see
// TestCrashRunner). It returns how many messages accepted in this round
// are still queued.
func verifyRunCrash(t *testing.T, dir string, st *runCrashState, r *runCrashRound) int {
	t.Helper()
	var logs logBuffer
	q, err := Open(runCrashOptions(dir, &logs))
	if err != nil {
		t.Fatalf("%s: reopen: %v\n%s", r.where(), err, logs.String())
	}
	defer q.Close()
	recs, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	queued, extras, redone := map[string]bool{}, 0, 0
	for _, rec := range recs {
		queued[rec.ID] = true
		n, ok := runCrashSeq(rec.From.Addr)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is from %q", rec.ID, rec.From.Addr))
			continue
		}
		if got, want := readContent(t, q, rec.ID), joinMessage(runCrashMessage(n)); got != want {
			bad = append(bad, fmt.Sprintf("%s (#%d) has %d bytes, want exactly the %d put", rec.ID, n, len(got), len(want)))
		}
		if st.deleted[rec.ID] {
			bad = append(bad, fmt.Sprintf("%s (#%d) is queued, but its Delete returned", rec.ID, n))
		}
		if r.redone[rec.ID] {
			redone++
		}
		want, ok := st.known[rec.ID]
		switch {
		case !ok:
			extras++
			st.known[rec.ID] = n
			st.trail[rec.ID] = append(st.trail[rec.ID], fmt.Sprintf("%d:found", r.n))
		case want != n:
			bad = append(bad, fmt.Sprintf("%s holds #%d, the child printed #%d", rec.ID, n, want))
		}
	}
	for id, n := range st.known {
		if !queued[id] && !st.delivered[id] && !st.deleting[id] {
			bad = append(bad, fmt.Sprintf("acknowledged message %s (#%d) is lost", id, n))
		}
	}
	if extras > runCrashPutters {
		bad = append(bad, fmt.Sprintf("%d unacknowledged messages, at most %d could be committing", extras, runCrashPutters))
	}
	if redone > runCrashConcurrency {
		bad = append(bad, fmt.Sprintf("%d messages accepted in this round are still queued, at most %d could be settling",
			redone, runCrashConcurrency))
	}
	if l := q.Len(); l != len(recs) {
		bad = append(bad, fmt.Sprintf("the owner holds %d messages, List finds %d", l, len(recs)))
	}
	for _, e := range r.readErrs {
		bad = append(bad, "the deliverer could not read a message nobody deleted: "+e)
	}
	bad = append(bad, checkSpoolDirs(t, dir)...)
	r.counts["torn"] = strings.Count(logs.String(), "ignoring the end of a log segment")
	r.counts["tmp"] = strings.Count(logs.String(), "removed files of unfinished messages")
	reportRunCrash(t, dir, st, r, bad, logs.String())
	return redone
}

// checkSpoolDirs checks that tmp/ and bad/ are empty and that q/ holds
// content files and the records of content files only.
func checkSpoolDirs(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	for _, sub := range []string{"tmp", "bad"} {
		if names := dirNames(t, filepath.Join(dir, sub)); len(names) != 0 {
			bad = append(bad, fmt.Sprintf("%s/ holds %v after recovery", sub, names))
		}
	}
	names := dirNames(t, filepath.Join(dir, "q"))
	for _, n := range names {
		id, ext, _ := strings.Cut(n, ".")
		switch {
		case ext == "msg":
		case ext == "json" && fileExists(filepath.Join(dir, "q", id+".msg")):
		default:
			bad = append(bad, fmt.Sprintf("q/ holds %s", n))
		}
	}
	return bad
}

// reportRunCrash fails the test with the problems found, the history of
// the messages they name, the spool's files, the child's standard error
// and the recovery log.
func reportRunCrash(t *testing.T, dir string, st *runCrashState, r *runCrashRound, bad []string, recovery string) {
	t.Helper()
	if len(bad) == 0 {
		return
	}
	sort.Strings(bad)
	var b strings.Builder
	if len(bad) > 30 {
		fmt.Fprintf(&b, "  (%d problems, the first 30 shown)\n", len(bad))
		bad = bad[:30]
	}
	for _, p := range bad {
		fmt.Fprintf(&b, "  %s\n", p)
		for _, w := range strings.Fields(p) {
			if validID(w) {
				fmt.Fprintf(&b, "    history of %s: %v; on disk: %s\n", w, st.trail[w], spoolEvidence(dir, w))
			}
		}
	}
	fmt.Fprintf(&b, "log/: %v\nq/: %d files\n", dirNames(t, filepath.Join(dir, "log")), len(dirNames(t, filepath.Join(dir, "q"))))
	t.Errorf("%s:\n%schild stderr:\n%s\nrecovery log:\n%s", r.where(), b.String(), r.stderr.String(), recovery)
}

// drainRunCrash releases and delivers everything left, then checks that
// the spool is empty: at most the current log segment, nothing in q/, and
// nothing when it is opened again.
func drainRunCrash(t *testing.T, dir string, r *runCrashRound) {
	t.Helper()
	var logs logBuffer
	q, err := Open(runCrashOptions(dir, &logs))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Held {
			if err := q.Release(context.Background(), rec.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := &fakeDeliverer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, f, RunOptions{Concurrency: runCrashConcurrency, Hostname: "mx.crash.test"}) }()
	deadline := time.Now().Add(20 * time.Second)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	left := q.Len()
	q.Close()
	var bad []string
	if left > 0 {
		bad = append(bad, fmt.Sprintf("%d messages still queued after 20s of delivery", left))
	}
	for _, c := range f.snapshot() {
		n, _ := runCrashSeq(c.d.From.Addr)
		if want := joinMessage(runCrashMessage(n)); c.content != want {
			bad = append(bad, fmt.Sprintf("drain delivered %s (#%d) with %d bytes, want %d", c.d.QueueID, n, len(c.content), len(want)))
		}
	}
	if segs := dirNames(t, filepath.Join(dir, "log")); len(segs) > 1 {
		bad = append(bad, fmt.Sprintf("log/ holds %v with the queue empty, want at most the current segment", segs))
	}
	if names := dirNames(t, filepath.Join(dir, "q")); len(names) > 0 {
		bad = append(bad, fmt.Sprintf("q/ holds %v with the queue empty", names))
	}
	q, err = Open(runCrashOptions(dir, &logs))
	if err != nil {
		t.Fatal(err)
	}
	if l := q.Len(); l != 0 {
		bad = append(bad, fmt.Sprintf("%d messages came back after the drain", l))
	}
	q.Close()
	if len(bad) > 0 {
		t.Errorf("drain after %s:\n  %s\nlog:\n%s", r.where(), strings.Join(bad, "\n  "), logs.String())
	}
}

// spoolEvidence says where message id is in the spool: its files in q/
// and bad/, and its entries in the log (kind, segment, offset).
func spoolEvidence(dir, id string) string {
	var out []string
	for _, sub := range []string{"q", "bad"} {
		names, _ := filepath.Glob(filepath.Join(dir, sub, id+"*"))
		for _, n := range names {
			out = append(out, sub+"/"+filepath.Base(n))
		}
	}
	segs, _ := readDirNames(filepath.Join(dir, "log"))
	for _, n := range segs {
		seq, ok := parseSegName(n)
		f, err := os.Open(filepath.Join(dir, "log", n))
		if !ok || err != nil {
			continue
		}
		_, err = scanSegment(f, seq, func(e *segEntry) error {
			if e.id == id {
				out = append(out, fmt.Sprintf("%c@%s:%d", e.kind, n, e.offset))
			}
			return nil
		})
		f.Close()
		if err != nil {
			out = append(out, fmt.Sprintf("(%s: %v)", n, err))
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, " ")
}
