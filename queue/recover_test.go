package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRecovery: Open keeps committed messages (with the record of
// q/ID.json when there is one, else the one embedded in q/ID.msg), removes
// drafts, temp records and records without content, and moves content
// files without a valid record trailer, messages whose record is
// unreadable or does not match, and unknown files to bad/.
func TestRecovery(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir, LogMaxMessage: -1})
	ctx := context.Background()
	good := put(t, q, testRecord("b@example.org"), "good\r\n")
	updated := put(t, q, testRecord("b@example.org"), "updated\r\n")
	short := put(t, q, testRecord("b@example.org"), "short\r\n")
	noContent := put(t, q, testRecord("b@example.org"), "gone\r\n")
	corrupt := put(t, q, testRecord("b@example.org"), "corrupt\r\n")
	badSum := put(t, q, testRecord("b@example.org"), "bad checksum\r\n")
	mismatch := put(t, q, testRecord("b@example.org"), "mismatch\r\n")
	for _, id := range []string{updated, noContent, mismatch} {
		if err := q.Hold(ctx, id, "held for "+id); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()

	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(path(name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tmp/0630000000000001.msg", "half a draft")
	write("tmp/"+good+".json", "half a record update")
	write("q/0630000000000002.msg", "content that lacks any record trailer at its end\r\n")
	if err := os.Truncate(path("q/"+short+".msg"), 5); err != nil {
		t.Fatal(err)
	}
	os.Remove(path("q/" + noContent + ".msg"))
	write("q/"+corrupt+".json", `{"version":1,`)
	flipByte(t, path("q/"+badSum+".msg"), int64(len(testHeader)+len("bad checksum\r\n")+20))
	j, err := os.ReadFile(path("q/" + mismatch + ".json"))
	if err != nil {
		t.Fatal(err)
	}
	write("q/"+mismatch+".json", strings.Replace(string(j), `"size": `, `"size": 1`, 1))
	write("q/notes.txt", "someone's notes")

	var logs logBuffer
	q2 := openTest(t, Options{Dir: dir, Logger: logs.logger(), LogMaxMessage: -1})
	recs, err := q2.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != good || recs[0].Held || recs[1].ID != updated || !recs[1].Held || recs[1].HoldReason != "held for "+updated {
		t.Fatalf("after recovery: %+v, want %s, then %s held", recs, good, updated)
	}
	for id, body := range map[string]string{good: "good\r\n", updated: "updated\r\n"} {
		if got := readContent(t, q2, id); got != testHeader+body {
			t.Errorf("content of %s: %q", id, got)
		}
	}
	if names := dirNames(t, path("tmp")); len(names) != 0 {
		t.Errorf("tmp/ after recovery: %v", names)
	}
	wantQ := []string{good + ".msg", updated + ".json", updated + ".msg"}
	if names := dirNames(t, path("q")); !slices.Equal(names, wantQ) {
		t.Errorf("q/ after recovery: %v, want %v", names, wantQ)
	}
	wantBad := []string{"0630000000000002.msg", badSum + ".msg", corrupt + ".json", corrupt + ".msg",
		mismatch + ".json", mismatch + ".msg", "notes.txt", short + ".msg"}
	slices.Sort(wantBad)
	if names := dirNames(t, path("bad")); !slices.Equal(names, wantBad) {
		t.Errorf("bad/ after recovery: %v, want %v", names, wantBad)
	}
	for _, want := range []string{
		`msg="queue: moved aside" file=` + short + `.msg to=` + path("bad/"+short+".msg") + ` reason="content file of 5 bytes has no record trailer"`,
		`msg="queue: moved aside" file=0630000000000002.msg to=` + path("bad/0630000000000002.msg") + ` reason="no valid record trailer at the end of the content file"`,
		`msg="queue: moved aside" file=` + badSum + `.msg to=` + path("bad/"+badSum+".msg") + ` reason="embedded record fails its checksum"`,
		`msg="queue: moved aside" file=` + corrupt + `.msg to=` + path("bad/"+corrupt+".msg") + ` reason="its record is unreadable"`,
		`msg="queue: moved aside" file=` + corrupt + `.json to=` + path("bad/"+corrupt+".json") + ` reason="bad record: unexpected end of JSON input"`,
		`msg="queue: moved aside" file=` + mismatch + `.json to=` + path("bad/"+mismatch+".json") + ` reason="record: content is `,
		`msg="queue: moved aside" file=notes.txt`,
		`msg="queue: removing a record without content (an unfinished delete)" id=` + noContent,
		`msg="queue: removed files of unfinished messages"`,
		`msg="queue: opened" dir=` + dir + ` messages=2`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// flipByte inverts the bits of the byte at off in file name.
func flipByte(t *testing.T, name string, off int64) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveOrder: removing a message that has a q/ID.json unlinks the
// content file first, syncs q/, then unlinks the record, so that a crash
// never leaves content whose embedded record would revive the message.
func TestRemoveOrder(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir}
	q := openTest(t, Options{Dir: dir, FS: fsys, LogMaxMessage: -1})
	ctx := context.Background()
	id := put(t, q, testRecord("b@example.org"), "x\r\n")
	if err := q.Hold(ctx, id, "look"); err != nil {
		t.Fatal(err)
	}
	n := len(fsys.calls())
	if err := q.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	want := []string{"remove q/" + id + ".msg", "syncdir q", "remove q/" + id + ".json"}
	if got := fsys.calls()[n:]; !slices.Equal(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if names := dirNames(t, filepath.Join(dir, "q")); len(names) != 0 {
		t.Errorf("q/ after Delete: %v", names)
	}
}

// TestParseTrailer: only the exact trailer form is accepted.
func TestParseTrailer(t *testing.T) {
	tests := []struct {
		in      string
		n       int64
		sum     uint32
		wantErr string
	}{
		{"\nsluice-record/1 0000000123 0badcafe\n", 123, 0x0badcafe, ""},
		{"\nsluice-record/1 0016777216 ffffffff\n", 16 << 20, 0xffffffff, ""},
		{"\nsluice-record/1 0016777217 ffffffff\n", 0, 0, "embedded record is 16777217 bytes, more than 16777216"},
		{"\nsluice-record/1 0000000123 0BADCAFE\n", 0, 0, "no valid record trailer"},
		{"\nsluice-record/1 000000012x 0badcafe\n", 0, 0, "no valid record trailer"},
		{"\nsluice-record/1 +000000123 0badcafe\n", 0, 0, "no valid record trailer"},
		{"\nsluice-record/2 0000000123 0badcafe\n", 0, 0, "no valid record trailer"},
		{"\nsluice-record/1 0000000123_0badcafe\n", 0, 0, "no valid record trailer"},
		{"\nsluice-record/1 0000000123 0badcafe\r", 0, 0, "no valid record trailer"},
		{"\nsluice-record/1 0000000123 0badcafe", 0, 0, "no valid record trailer"},
	}
	for _, tt := range tests {
		n, sum, err := parseTrailer([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("%q: %v, want error %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || n != tt.n || sum != tt.sum {
			t.Errorf("%q: %d %#x %v, want %d %#x", tt.in, n, sum, err, tt.n, tt.sum)
		}
	}
}

// TestLock: a second owner waits LockWait and fails with ErrLocked naming
// the pid; after Close the directory can be opened again.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir})
	start := time.Now()
	_, err := Open(Options{Dir: dir, LockWait: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "(pid ") {
		t.Fatalf("second Open: %v, want ErrLocked with the pid", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("second Open gave up after %v, want LockWait", waited)
	}
	c, err := OpenControl(Options{Dir: dir})
	if err != nil || c.Owner() {
		t.Fatalf("OpenControl while owned: owner=%v err=%v", c != nil && c.Owner(), err)
	}
	c.Close()
	q.Close()
	q2, err := Open(Options{Dir: dir, LockWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	q2.Close()
}
