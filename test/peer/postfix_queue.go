package peer

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// QueueEntry is one message in the Postfix queue, as postqueue -j reports it.
type QueueEntry struct {
	QueueName   string           `json:"queue_name"` // maildrop, incoming, active, deferred or hold
	QueueID     string           `json:"queue_id"`
	ArrivalTime int64            `json:"arrival_time"` // Unix seconds
	MessageSize int64            `json:"message_size"`
	Sender      string           `json:"sender"`
	Recipients  []QueueRecipient `json:"recipients"`
}

// QueueRecipient is one recipient of a queued message.
type QueueRecipient struct {
	Address     string `json:"address"`
	DelayReason string `json:"delay_reason"` // why delivery was deferred, if it was
}

// Postconf sets main.cf parameters (postconf -e) and reloads the instance.
// It returns once the master has re-read its configuration and the daemons
// started before the reload have exited, so new connections see the
// change; a daemon still busy with a client after a bounded wait is
// reported with t.Log.
func (p *Postfix) Postconf(t testing.TB, params map[string]string) {
	t.Helper()
	args := []string{"-c", p.ConfigDir, "-e"}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, k+"="+params[k])
	}
	if out, err := runTool(toolTimeout, p.postconf, args...); err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
	if err := p.ageConfig(); err != nil {
		t.Fatalf("peer: %v", err)
	}
	p.reload(t)
}

// reloadMark is what the master logs when it has re-read its configuration.
const reloadMark = "]: reload -- "

// reload runs "postfix reload" and waits for it to take effect.
func (p *Postfix) reload(t testing.TB) {
	t.Helper()
	pid := p.masterPID()
	before := children(pid)
	reloads := strings.Count(p.Log(t), reloadMark)
	if out, err := runTool(toolTimeout, p.postfix, "-c", p.ConfigDir, "reload"); err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
	if !waitFor(startTimeout, func() bool { return strings.Count(p.Log(t), reloadMark) > reloads }) {
		t.Fatalf("peer: postfix %s did not log the reload within %v", p.Addr(), startTimeout)
	}
	// Daemons of the old configuration exit when the master closes their
	// status channel, or when they finish their current client.
	var left []int
	if !waitFor(stopTimeout, func() bool {
		left = slices.DeleteFunc(children(pid), func(c int) bool { return !slices.Contains(before, c) })
		return len(left) == 0
	}) {
		t.Logf("peer: postfix %s: processes %v from before the reload still run", p.Addr(), left)
	}
}

// Flush asks the instance to retry deferred mail now (postqueue -f).
func (p *Postfix) Flush(t testing.TB) {
	t.Helper()
	if out, err := runTool(toolTimeout, p.postqueue, "-c", p.ConfigDir, "-f"); err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
}

// Queue lists the queued messages (postqueue -j).
func (p *Postfix) Queue(t testing.TB) []QueueEntry {
	t.Helper()
	out, err := runTool(toolTimeout, p.postqueue, "-c", p.ConfigDir, "-j")
	if err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
	var entries []QueueEntry
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // empty, or a warning such as "mail system is down"
		}
		var e QueueEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("peer: postqueue -j line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	return entries
}

// HoldQueue returns the IDs of the messages on hold, sorted.
func (p *Postfix) HoldQueue(t testing.TB) []string {
	t.Helper()
	ids, err := queueFiles(filepath.Join(p.QueueDir, "hold"))
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	return ids
}

// pendingQueues are the queue directories that hold undelivered mail.
func pendingQueues() []string {
	return []string{"maildrop", "incoming", "active", "deferred", "hold", "corrupt"}
}

// pending returns "queue/ID" for each undelivered message.
func (p *Postfix) pending(t testing.TB) []string {
	t.Helper()
	var all []string
	for _, q := range pendingQueues() {
		ids, err := queueFiles(filepath.Join(p.QueueDir, q))
		if err != nil {
			t.Fatalf("peer: %v", err)
		}
		for _, id := range ids {
			all = append(all, q+"/"+id)
		}
	}
	return all
}

// QueueEmpty reports whether no message waits in any queue (maildrop,
// incoming, active, deferred, hold, corrupt): everything accepted has been
// delivered, bounced or discarded.
func (p *Postfix) QueueEmpty(t testing.TB) bool {
	t.Helper()
	return len(p.pending(t)) == 0
}

// WaitQueueEmpty waits until QueueEmpty, and fails the test with the
// queue listing after timeout.
func (p *Postfix) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	var left []string
	if waitFor(timeout, func() bool { left = p.pending(t); return len(left) == 0 }) {
		return
	}
	out, _ := runTool(toolTimeout, p.postqueue, "-c", p.ConfigDir, "-p")
	t.Fatalf("peer: postfix %s queue not empty after %v: %v\n%s", p.Addr(), timeout, left, out)
}

// queueFiles returns the names of the queue files under dir (hashed queues
// have subdirectories), sorted. A missing directory holds none.
func queueFiles(dir string) ([]string, error) {
	var ids []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // no such queue, or the file moved on meanwhile
		case err != nil:
			return err
		case d.Type().IsRegular():
			ids = append(ids, d.Name())
		}
		return nil
	})
	slices.Sort(ids)
	return ids, err
}
