package queue

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// dsnReport is a parsed RFC 3464 (or RFC 6533) notification.
type dsnReport struct {
	header       mail.Header
	reportType   string // delivery-status or global-delivery-status
	human        string
	perMessage   map[string]string
	rcpts        []map[string]string
	originalType string
	original     string
}

// parseDSN parses content as multipart/report; report-type=delivery-status
// (or global-delivery-status, whose status part must then be
// message/global-delivery-status) with net/mail and mime/multipart,
// failing the test on any deviation.
func parseDSN(t *testing.T, content string) dsnReport {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(content))
	if err != nil {
		t.Fatalf("DSN is not a message: %v\n%s", err, content)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	rt := params["report-type"]
	if err != nil || mt != "multipart/report" || (rt != "delivery-status" && rt != "global-delivery-status") {
		t.Fatalf("DSN Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("DSN part %d: %v", len(parts)+1, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts, bodies = append(parts, p), append(bodies, string(b))
	}
	if len(parts) != 3 {
		t.Fatalf("DSN has %d parts, want 3", len(parts))
	}
	wantTypes := []string{"text/plain; charset=utf-8", "message/" + rt}
	for i, w := range wantTypes {
		if got := parts[i].Header.Get("Content-Type"); got != w {
			t.Errorf("part %d Content-Type %q, want %q", i+1, got, w)
		}
	}
	rep := dsnReport{header: msg.Header, reportType: rt, human: bodies[0],
		originalType: parts[2].Header.Get("Content-Type"), original: bodies[2]}
	blocks := strings.Split(strings.TrimSuffix(bodies[1], "\r\n"), "\r\n\r\n")
	rep.perMessage = parseFields(t, blocks[0])
	for _, b := range blocks[1:] {
		rep.rcpts = append(rep.rcpts, parseFields(t, b))
	}
	return rep
}

// parseFields parses "Name: value" lines, keeping names as written.
func parseFields(t *testing.T, block string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(block, "\r\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			t.Fatalf("bad delivery-status line %q in\n%s", line, block)
		}
		out[name] = value
	}
	return out
}

// dsnFor runs a queue whose deliverer fails every recipient but the
// sender (the DSN's), puts rec, and returns the DSN delivered.
func dsnFor(t *testing.T, opts Options, ropts RunOptions, rec Record, body string, answer func(string) envelope.RcptResult) (Record, string) {
	t.Helper()
	if opts.Retry == nil {
		opts.Retry, opts.Jitter = []time.Duration{20 * time.Millisecond}, -1
	}
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
		if rcpt == rec.From.Addr {
			return envelope.RcptResult{Status: envelope.Delivered, Code: 250}
		}
		return answer(rcpt)
	}}
	id := put(t, q, rec, body)
	runQueue(t, q, f, ropts)
	waitFor(t, "a DSN", func() bool { return len(f.callsFrom("")) > 0 })
	orig, _ := q.Show(id)
	if orig == nil {
		orig = &Record{ID: id}
	}
	return *orig, f.callsFrom("")[0].content
}

func TestDSNFailed(t *testing.T) {
	rec := testRecord("b@example.org", "c@example.org", "d@example.org")
	rec.From.Params = append(rec.From.Params, envelope.Param{Key: "ENVID", Value: "env+2B42"})
	rec.Rcpts[0].Params = []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS,FAILURE"}, {Key: "ORCPT", Value: "rfc822;B+2Bx@example.org"}}
	rec.Rcpts[2].Params = []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}
	arrived := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec.Arrived = arrived
	_, content := dsnFor(t, Options{}, RunOptions{Hostname: "mx.sluice.test"}, rec, "the body\r\n", func(rcpt string) envelope.RcptResult {
		if rcpt == "c@example.org" {
			return envelope.RcptResult{Status: envelope.Failed, Text: "mailbox path refused\r\nsecond line"}
		}
		return failed("no such user")
	})
	rep := parseDSN(t, content)
	h := rep.header
	for name, want := range map[string]string{
		"From":           "Mail Delivery System <MAILER-DAEMON@mx.sluice.test>",
		"To":             "<a@example.org>",
		"Subject":        "Undelivered Mail Returned to Sender",
		"Auto-Submitted": "auto-replied",
		"MIME-Version":   "1.0",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("DSN %s: %q, want %q", name, got, want)
		}
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("DSN Date: %v", err)
	}
	if !strings.HasSuffix(h.Get("Message-ID"), ".dsn@mx.sluice.test>") {
		t.Errorf("Message-ID %q", h.Get("Message-ID"))
	}
	wantMsg := map[string]string{"Reporting-MTA": "dns; mx.sluice.test", "Original-Envelope-Id": "env+42",
		"Arrival-Date": "Sat, 01 Mar 2025 12:00:00 +0000"}
	if !equalMaps(rep.perMessage, wantMsg) {
		t.Errorf("per-message fields %v, want %v", rep.perMessage, wantMsg)
	}
	if len(rep.rcpts) != 2 {
		t.Fatalf("%d recipients reported, want 2 (NOTIFY=NEVER is not): %v", len(rep.rcpts), rep.rcpts)
	}
	at := rep.rcpts[0]["Last-Attempt-Date"]
	if _, err := mail.ParseDate(at); err != nil {
		t.Errorf("Last-Attempt-Date %q: %v", at, err)
	}
	want0 := map[string]string{"Original-Recipient": "rfc822; B+x@example.org", "Final-Recipient": "rfc822; b@example.org",
		"Action": "failed", "Status": "5.1.1", "Remote-MTA": "dns; mx.test",
		"Diagnostic-Code": "smtp; 550 5.1.1 no such user", "Last-Attempt-Date": at}
	want1 := map[string]string{"Final-Recipient": "rfc822; c@example.org", "Action": "failed", "Status": "5.0.0",
		"Diagnostic-Code": "X-Sluice; mailbox path refused  second line", "Last-Attempt-Date": at}
	if !equalMaps(rep.rcpts[0], want0) || !equalMaps(rep.rcpts[1], want1) {
		t.Errorf("recipient fields:\n%v\n%v\nwant\n%v\n%v", rep.rcpts[0], rep.rcpts[1], want0, want1)
	}
	if rep.originalType != "text/rfc822-headers" || rep.original != testHeader {
		t.Errorf("returned part %q: %q, want the header section", rep.originalType, rep.original)
	}
	wantHuman := "This is the sluice mail system at mx.sluice.test.\r\n\r\n" +
		"Your message could not be delivered to the recipients below.\r\nIts header section is attached.\r\n\r\n" +
		"<b@example.org>: host mx.test said: 550 5.1.1 no such user\r\n" +
		"<c@example.org>: mailbox path refused  second line\r\n"
	if rep.human != wantHuman {
		t.Errorf("human part:\n%q\nwant\n%q", rep.human, wantHuman)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestDSNReturnFull: RET=FULL returns the whole message as message/rfc822
// (and the DSN is sent BODY=8BITMIME like the original); beyond
// MaxReturnSize only the header section comes back.
func TestDSNReturnFull(t *testing.T) {
	body := "ünïcode body\r\n--not-a-boundary\r\n"
	rec := testRecord("b@example.org")
	rec.From.Params = append(rec.From.Params, envelope.Param{Key: "RET", Value: "FULL"})
	opts := Options{Retry: []time.Duration{20 * time.Millisecond}, Jitter: -1}
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
		if rcpt == "a@example.org" {
			return envelope.RcptResult{Status: envelope.Delivered, Code: 250}
		}
		return failed("no")
	}}
	put(t, q, rec, body)
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "a DSN", func() bool { return len(f.callsFrom("")) > 0 })
	dsn := f.callsFrom("")[0]
	rep := parseDSN(t, dsn.content)
	if rep.originalType != "message/rfc822" || rep.original != testHeader+body {
		t.Errorf("returned part %q: %q", rep.originalType, rep.original)
	}
	if v, _ := dsn.d.From.Param("BODY"); v != "8BITMIME" {
		t.Errorf("DSN MAIL parameters %v, want BODY=8BITMIME", dsn.d.From.Params)
	}
	if !strings.Contains(rep.human, "The message is attached.") {
		t.Errorf("human part: %q", rep.human)
	}

	_, content := dsnFor(t, Options{}, RunOptions{MaxReturnSize: 10}, rec, body, func(string) envelope.RcptResult { return failed("no") })
	rep = parseDSN(t, content)
	if rep.originalType != "text/rfc822-headers" || rep.original != testHeader {
		t.Errorf("over MaxReturnSize: returned part %q: %q", rep.originalType, rep.original)
	}
}

// TestDSNDelayWarning: with DelayWarning, one "delayed" DSN goes out
// while delivery goes on, to recipients that did not opt out.
func TestDSNDelayWarning(t *testing.T) {
	rec := testRecord("b@example.org", "c@example.org")
	rec.Rcpts[1].Params = []envelope.Param{{Key: "NOTIFY", Value: "FAILURE"}}
	opts := Options{Retry: []time.Duration{30 * time.Millisecond}, Jitter: -1, MaxAge: time.Hour}
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
		if rcpt == "a@example.org" {
			return envelope.RcptResult{Status: envelope.Delivered, Code: 250}
		}
		return deferred("greylisted")
	}}
	id := put(t, q, rec, "x\r\n")
	runQueue(t, q, f, RunOptions{DelayWarning: 50 * time.Millisecond})
	waitFor(t, "a delay DSN", func() bool { return len(f.callsFrom("")) > 0 })
	waitFor(t, "five attempts", func() bool {
		r, err := q.Show(id)
		return err == nil && r.Attempts >= 5 && r.DelayWarned
	})
	if n := len(f.callsFrom("")); n != 1 {
		t.Errorf("%d delay DSNs, want 1", n)
	}
	rep := parseDSN(t, f.callsFrom("")[0].content)
	if rep.header.Get("Subject") != "Delayed Mail (still being retried)" || len(rep.rcpts) != 1 {
		t.Fatalf("delay DSN: subject %q, %d recipients", rep.header.Get("Subject"), len(rep.rcpts))
	}
	r := rep.rcpts[0]
	if r["Final-Recipient"] != "rfc822; b@example.org" || r["Action"] != "delayed" || r["Status"] != "4.4.1" ||
		r["Will-Retry-Until"] == "" {
		t.Errorf("delay DSN fields %v", r)
	}
	if !strings.Contains(rep.human, "This is a warning only") {
		t.Errorf("human part: %q", rep.human)
	}
}

func TestXtextDecode(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "a+2Bb": "a+b", "+3D+3d": "==", "bad+zz": "bad+zz", "end+2": "end+2", "+": "+",
	} {
		if got := xtextDecode(in); got != want {
			t.Errorf("xtextDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanEnhanced(t *testing.T) {
	for in, want := range map[string]string{
		"5.1.1": "5.1.1", "4.7.26": "4.7.26", "2.0.0": "2.0.0", "3.1.1": "", "5.1": "", "5.1.1.1": "",
		"5.a.1": "", "5.1000.1": "", "": "", "5.+1.1": "", "5.-1.1": "",
	} {
		if got := cleanEnhanced(in); got != want {
			t.Errorf("cleanEnhanced(%q) = %q, want %q", in, got, want)
		}
	}
}
