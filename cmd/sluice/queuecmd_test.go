package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/queue"
)

const cmdHeader = "Subject: queued\r\n\r\n"

// spoolConfig writes queue.toml naming a spool under dir and returns the
// spool's path.
func spoolConfig(t *testing.T, dir string) string {
	t.Helper()
	spool := filepath.Join(dir, "spool")
	writeFile(t, dir, "queue.toml", fmt.Sprintf("[queue]\ndir = %q\n", spool))
	return spool
}

func cmdRecord(from string, arrived time.Time, rcpts ...string) queue.Record {
	var addrs []envelope.Address
	for _, r := range rcpts {
		addrs = append(addrs, envelope.Address{Addr: r, Params: []envelope.Param{{Key: "NOTIFY", Value: "FAILURE"}}})
	}
	return queue.Record{From: envelope.Address{Addr: from}, Rcpts: queue.Recipients(addrs), Arrived: arrived}
}

func cmdPut(t *testing.T, q *queue.Queue, rec queue.Record, body string) string {
	t.Helper()
	id, err := q.Put(context.Background(), rec, []byte(cmdHeader), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestQueueCmd: the queue commands when no serve owns the spool: they
// own it for their run and act directly.
func TestQueueCmd(t *testing.T) {
	dir := t.TempDir()
	spool := spoolConfig(t, dir)
	check(t, sluice(t, dir, "queue", "list", "--config", "queue.toml"), result{0, "queue is empty\n", ""})

	q, err := queue.Open(queue.Options{Dir: spool})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec1 := cmdRecord("alice@example.org", at, "bob@example.net", "carol@example.net")
	rec1.From.Params = []envelope.Param{{Key: "BODY", Value: "8BITMIME"}}
	rec1.Client = envelope.Conn{ClientName: "mail.example.org", HELO: "mail.example.org", Proto: "ESMTPA", AuthLogin: "alice"}
	id1 := cmdPut(t, q, rec1, "hello\r\n")
	rec2 := cmdRecord("", at.Add(time.Minute), "postmaster@example.net")
	rec2.Held, rec2.HoldReason = true, "suspicious"
	id2 := cmdPut(t, q, rec2, "bounce\r\n")
	q.Close()

	list := "ID                SIZE  ARRIVED               SENDER               RCPTS  STATE    NEXT ATTEMPT\n" +
		id1 + "  26    2025-03-01T12:00:00Z  <alice@example.org>  2/2    pending  now\n" +
		id2 + "  27    2025-03-01T12:01:00Z  <>                   1/1    held     held: suspicious\n" +
		"2 messages, 53 bytes\n"
	check(t, sluice(t, dir, "queue", "list", "--config", "queue.toml"), result{0, list, ""})
	show := "id: " + id1 + "\narrived: 2025-03-01T12:00:00Z\nsize: 26 (header 19)\n" +
		"sender: <alice@example.org> BODY=8BITMIME\n" +
		"client: mail.example.org helo=mail.example.org proto=ESMTPA login=alice\n" +
		"attempts: 0, last -, next now\n" +
		"recipient: <bob@example.net> NOTIFY=FAILURE: pending\n" +
		"recipient: <carol@example.net> NOTIFY=FAILURE: pending\n\n" + cmdHeader + "hello\r\n"
	check(t, sluice(t, dir, "queue", "show", id1, "--config", "queue.toml"), result{0, show, ""})

	check(t, sluice(t, dir, "queue", "hold", id1, "--reason", "look at it", "--config", "queue.toml"), result{0, "held " + id1 + "\n", ""})
	r := sluice(t, dir, "queue", "list", "--config", "queue.toml")
	if !strings.Contains(r.stdout, id1+"  26    2025-03-01T12:00:00Z  <alice@example.org>  2/2    held   held: look at it\n") {
		t.Errorf("list after hold:\n%s", r.stdout)
	}
	check(t, sluice(t, dir, "queue", "release", id1, "--config", "queue.toml"), result{0, "released " + id1 + "\n", ""})
	check(t, sluice(t, dir, "queue", "release", id2, "--config", "queue.toml"), result{0, "released " + id2 + "\n", ""})
	check(t, sluice(t, dir, "queue", "flush", "--config", "queue.toml"), result{0, "flushed 0 messages\n", ""})
	check(t, sluice(t, dir, "queue", "delete", id2, "--config", "queue.toml"), result{0, "deleted " + id2 + "\n", ""})
	check(t, sluice(t, dir, "queue", "show", id2, "--config", "queue.toml"), result{1, "", "sluice queue show: no such message: " + id2 + "\n"})
	check(t, sluice(t, dir, "queue", "delete", "../lock", "--config", "queue.toml"), result{1, "", "sluice queue delete: no such message: \"../lock\"\n"})
	check(t, sluice(t, dir, "queue", "hold", "--config", "queue.toml"), result{2, "",
		"sluice queue hold: want one queue ID, got 0 arguments\nRun 'sluice --help' for usage.\n"})
	check(t, sluice(t, dir, "queue"), result{2, "",
		"sluice queue: missing subcommand (list, show, flush, hold, release, delete)\nRun 'sluice --help' for usage.\n"})
	check(t, sluice(t, dir, "queue", "purge"), result{2, "", "sluice queue: unknown subcommand \"purge\"\nRun 'sluice --help' for usage.\n"})
}

// deferAll is a deliverer that defers everything, counting attempts.
type deferAll struct {
	mu       sync.Mutex
	attempts map[string]int
}

func (d *deferAll) Deliver(_ context.Context, m *envelope.Delivery) []envelope.RcptResult {
	d.mu.Lock()
	d.attempts[m.QueueID]++
	d.mu.Unlock()
	var out []envelope.RcptResult
	for _, a := range m.To {
		out = append(out, envelope.RcptResult{Rcpt: a.Addr, Status: envelope.Deferred, Code: 451, Text: "later"})
	}
	return out
}

func (d *deferAll) count(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts[id]
}

// TestQueueCmdWhileOwned: while another process owns the spool and runs
// its runner (here, this test process, as serve would), the commands hand
// their operations to it and it applies them.
func TestQueueCmdWhileOwned(t *testing.T) {
	dir := t.TempDir()
	spool := spoolConfig(t, dir)
	q, err := queue.Open(queue.Options{Dir: spool, Retry: []time.Duration{time.Hour}, Jitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	d := &deferAll{attempts: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- q.Run(ctx, d, queue.RunOptions{Hostname: "mx.test", ControlInterval: 20 * time.Millisecond})
	}()
	defer func() {
		cancel()
		<-ran
	}()
	id := cmdPut(t, q, cmdRecord("alice@example.org", time.Time{}, "bob@example.net"), "x\r\n")
	waitUntil(t, "the first attempt", func() bool { r, err := q.Show(id); return err == nil && r.Attempts == 1 })

	check(t, sluice(t, dir, "queue", "hold", id, "--config", "queue.toml"), result{0, "held " + id + "\n", ""})
	if r, _ := q.Show(id); r == nil || !r.Held || r.HoldReason != "held by operator" {
		t.Errorf("record after hold: %+v", r)
	}
	check(t, sluice(t, dir, "queue", "release", id, "--config", "queue.toml"), result{0, "released " + id + "\n", ""})
	waitUntil(t, "the attempt after release", func() bool { return d.count(id) == 2 })
	waitUntil(t, "the second attempt's record", func() bool { r, err := q.Show(id); return err == nil && r.Attempts == 2 })
	// The runner may still be finishing the attempt (a message being
	// delivered is not flushed): try until the flush moves it.
	waitUntil(t, "a flush that moves the message", func() bool {
		r := sluice(t, dir, "queue", "flush", "--config", "queue.toml")
		return r == result{0, "flushed 1 message\n", ""}
	})
	waitUntil(t, "the attempt after flush", func() bool { return d.count(id) == 3 })
	r := sluice(t, dir, "queue", "show", id, "--config", "queue.toml")
	if r.code != 0 || !strings.Contains(r.stdout, "recipient: <bob@example.net> NOTIFY=FAILURE: pending; last reply \"451 later\" from - at ") {
		t.Errorf("show while owned: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	check(t, sluice(t, dir, "queue", "delete", id, "--config", "queue.toml"), result{0, "deleted " + id + "\n", ""})
	if _, err := q.Show(id); err == nil {
		t.Error("message still queued after delete")
	}
	check(t, sluice(t, dir, "queue", "delete", id, "--config", "queue.toml"), result{1, "", "sluice queue delete: no such message: " + id + "\n"})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
