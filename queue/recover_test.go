package queue

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRecovery: Open keeps committed messages, removes drafts, temp
// records and content without a record, and moves unreadable records,
// records with missing or short content, and unknown files to bad/.
func TestRecovery(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir})
	good := put(t, q, testRecord("b@example.org"), "good\r\n")
	short := put(t, q, testRecord("b@example.org"), "short\r\n")
	noContent := put(t, q, testRecord("b@example.org"), "gone\r\n")
	corrupt := put(t, q, testRecord("b@example.org"), "corrupt\r\n")
	q.Close()

	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tmp/0630000000000001.msg", "half a draft")
	write("tmp/"+good+".json", "half a record update")
	write("q/0630000000000002.msg", "content whose record never made it")
	write("q/"+short+".msg", "trunc")
	os.Remove(filepath.Join(dir, "q", noContent+".msg"))
	write("q/"+corrupt+".json", `{"version":1,`)
	write("q/notes.txt", "someone's notes")

	var logs logBuffer
	q2 := openTest(t, Options{Dir: dir, Logger: logs.logger()})
	recs, err := q2.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != good {
		t.Fatalf("after recovery: %v, want only %s", recs, good)
	}
	if got := readContent(t, q2, good); got != testHeader+"good\r\n" {
		t.Errorf("good message content %q", got)
	}
	if names := dirNames(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Errorf("tmp/ after recovery: %v", names)
	}
	wantQ := []string{good + ".json", good + ".msg"}
	if names := dirNames(t, filepath.Join(dir, "q")); !slices.Equal(names, wantQ) {
		t.Errorf("q/ after recovery: %v, want %v", names, wantQ)
	}
	wantBad := []string{corrupt + ".json", corrupt + ".msg", noContent + ".json", "notes.txt", short + ".json", short + ".msg"}
	slices.Sort(wantBad)
	if names := dirNames(t, filepath.Join(dir, "bad")); !slices.Equal(names, wantBad) {
		t.Errorf("bad/ after recovery: %v, want %v", names, wantBad)
	}
	for _, want := range []string{
		`msg="queue: moved aside" file=` + short + `.json to=` + filepath.Join(dir, "bad", short+".json") + ` reason="content is 5 bytes, record says`,
		`msg="queue: moved aside" file=` + corrupt + `.json`,
		`reason="bad record: unexpected end of JSON input"`,
		`msg="queue: moved aside" file=` + noContent + `.json`,
		`reason="content: stat `,
		`msg="queue: moved aside" file=notes.txt`,
		`msg="queue: removing content without a record (an unfinished commit or delete)" id=0630000000000002`,
		`msg="queue: removed files of unfinished messages"`,
		`msg="queue: opened" dir=` + dir + ` messages=1`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
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
