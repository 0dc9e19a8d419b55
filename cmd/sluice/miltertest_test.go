package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/miltersrv"
)

// testMilter is a filter that milter-test drives through miltersrv: it
// records what it sees and answers by its hooks (nil: continue).
type testMilter struct {
	needs filter.Needs
	mail  func() filter.Verdict
	rcpt  func(ctx context.Context, to envelope.Address) filter.Verdict
	eom   func(m *filter.Modifier) filter.Verdict

	mu   sync.Mutex
	seen []string
}

func (f *testMilter) Needs() filter.Needs { return f.needs }

func (f *testMilter) NewSession(_ context.Context, m filter.Macros) (filter.Session, error) {
	return &testSession{f: f, m: m}, nil
}

func (f *testMilter) saw() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

type testSession struct {
	filter.Base
	f *testMilter
	m filter.Macros
}

func (s *testSession) record(format string, args ...any) {
	s.f.mu.Lock()
	s.f.seen = append(s.f.seen, fmt.Sprintf(format, args...))
	s.f.mu.Unlock()
}

// macros renders the named macros as the session sees them now.
func (s *testSession) macros(names ...string) string {
	var out []string
	for _, n := range names {
		v, ok := s.m.Macro(n)
		if !ok {
			v = "(unset)"
		}
		out = append(out, n+"="+v)
	}
	return strings.Join(out, " ")
}

func (s *testSession) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	s.record("connect %s %s %c %s", c.ClientName, c.ClientAddr, c.Family, s.macros("j", "_", "{daemon_name}", "v"))
	return filter.Continue
}

func (s *testSession) Helo(_ context.Context, name string) filter.Verdict {
	s.record("helo %s", name)
	return filter.Continue
}

func (s *testSession) Mail(_ context.Context, from envelope.Address) filter.Verdict {
	s.record("mail <%s> %s %s", from.Addr, from.ParamString(), s.macros("i", "{mail_addr}", "{auth_authen}"))
	if s.f.mail != nil {
		return s.f.mail()
	}
	return filter.Continue
}

func (s *testSession) Rcpt(ctx context.Context, to envelope.Address) filter.Verdict {
	s.record("rcpt <%s> %s %s", to.Addr, to.ParamString(), s.macros("{rcpt_addr}", "{rcpt_host}"))
	if s.f.rcpt != nil {
		return s.f.rcpt(ctx, to)
	}
	return filter.Continue
}

func (s *testSession) Header(_ context.Context, name, value string) filter.Verdict {
	s.record("header %s:%q", name, value)
	return filter.Continue
}

func (s *testSession) Body(_ context.Context, chunk []byte) filter.Verdict {
	s.record("body %q", chunk)
	return filter.Continue
}

func (s *testSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	s.record("eom")
	if s.f.eom != nil {
		return s.f.eom(m)
	}
	return filter.Continue
}

// serveMilter serves f on a loopback port for the test's life and returns
// its address as milter-test takes it.
func serveMilter(t *testing.T, f filter.Filter) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, f, l, fmt.Sprintf("inet:%d@127.0.0.1", l.Addr().(*net.TCPAddr).Port))
}

func serveOn(t *testing.T, f filter.Filter, l net.Listener, addr string) string {
	t.Helper()
	srv := miltersrv.New(f, miltersrv.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, miltersrv.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// allEdits makes one edit of every kind.
func allEdits(m *filter.Modifier) filter.Verdict {
	for _, err := range []error{
		m.AddHeader("X-Added", "yes"),
		m.InsertHeader(0, "X-First", "1"),
		m.ChangeHeader("Subject", 1, "changed\r\n\tand folded"),
		m.DeleteHeader("X-Drop", 1),
		m.AddRecipient(envelope.Address{Addr: "c@example.org"}),
		m.AddRecipient(envelope.Address{Addr: "d@example.org", Params: []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}}),
		m.DeleteRecipient("b@example.net"),
		m.ChangeSender(envelope.Address{Addr: "bounce@example.com", Params: []envelope.Param{{Key: "RET", Value: "HDRS"}}}),
		m.ReplaceBody(strings.NewReader("New body.\r\n")),
		m.Quarantine("looks odd: held for review"),
	} {
		if err != nil {
			panic(err)
		}
	}
	return filter.Continue
}

// testEML has LF line ends, folding, and a header the edits delete.
const testEML = "From: a@example.org\nSubject: hello\n folded\nX-Drop: me\nTo: b@example.net\n\nBody line 1\nBody line 2\n"

var msTimes = regexp.MustCompile(`[0-9]+\.[0-9]{3} ms`)

// TestMilterTestText: the whole text report for a message with every
// kind of edit, latencies aside; and what the milter saw of the message
// and of the flags.
func TestMilterTestText(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.eml", testEML)
	f := &testMilter{needs: filter.Needs{Edits: filter.AllEdits}, eom: allEdits}
	addr := serveMilter(t, f)
	r := sluice(t, dir, "milter-test", addr, "--eml", "m.eml", "--from", "<a@example.org> BODY=8BITMIME",
		"--to", "b@example.net", "--to", "e@example.net NOTIFY=SUCCESS,FAILURE", "--client-addr", "192.0.2.7:4000",
		"--client-name", "client.example", "--helo", "helo.example", "--macro", "{auth_authen}=alice", "--macro", "j=mx.example")
	want := `milter: ` + addr + `
negotiated: version 6 (X ms)
  actions: ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM|ADDRCPT_PAR
  protocol: SKIP
connect client.example [192.0.2.7]:4000: continue (SMFIR_CONTINUE, X ms)
  macros: j=mx.example {daemon_name}=sluice-milter-test {daemon_addr}=127.0.0.1 v=sluice milter-test _=client.example [192.0.2.7]
helo helo.example: continue (SMFIR_CONTINUE, X ms)
mail <a@example.org> BODY=8BITMIME: continue (SMFIR_CONTINUE, X ms)
  macros: i=MILTERTEST {auth_authen}=alice {mail_addr}=a@example.org {mail_host}=example.org {mail_mailer}=smtp
rcpt <b@example.net>: continue (SMFIR_CONTINUE, X ms)
  macros: i=MILTERTEST {rcpt_addr}=b@example.net {rcpt_host}=example.net {rcpt_mailer}=smtp
rcpt <e@example.net> NOTIFY=SUCCESS,FAILURE: continue (SMFIR_CONTINUE, X ms)
  macros: i=MILTERTEST {rcpt_addr}=e@example.net {rcpt_host}=example.net {rcpt_mailer}=smtp
data: continue (SMFIR_CONTINUE, X ms)
  macros: i=MILTERTEST
header From: continue (SMFIR_CONTINUE, X ms)
header Subject: continue (SMFIR_CONTINUE, X ms)
header X-Drop: continue (SMFIR_CONTINUE, X ms)
header To: continue (SMFIR_CONTINUE, X ms)
eoh: continue (SMFIR_CONTINUE, X ms)
  macros: i=MILTERTEST
body 26 bytes: continue (SMFIR_CONTINUE, X ms)
eom: continue (SMFIR_CONTINUE, X ms)
  macros: i=MILTERTEST
edits:
  addheader X-Added: yes
  insheader 0 X-First: 1
  chgheader Subject[1]: changed\r\n\tand folded
  delheader X-Drop[1]
  addrcpt <c@example.org>
  addrcpt <d@example.org> NOTIFY=NEVER
  delrcpt <b@example.net>
  chgfrom <bounce@example.com> RET=HDRS
  replbody 11 bytes
  quarantine looks odd: held for review
result: continue at eom (exit 0)
envelope:
  from: <bounce@example.com> RET=HDRS
  to: <e@example.net> NOTIFY=SUCCESS,FAILURE
  to: <c@example.org>
  to: <d@example.org> NOTIFY=NEVER
  quarantine: looks odd: held for review
--- message ---
X-First: 1
From: a@example.org
Subject: changed
	and folded
To: b@example.net
X-Added: yes

New body.
--- end of message ---
total: X ms
`
	if got := msTimes.ReplaceAllString(r.stdout, "X ms"); r.code != 0 || got != want || r.stderr != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant exit 0 and:\n%s", r.code, r.stderr, got, want)
	}
	wantSeen := []string{
		"connect client.example 192.0.2.7:4000 4 j=mx.example _=client.example [192.0.2.7] {daemon_name}=sluice-milter-test v=sluice milter-test",
		"helo helo.example",
		"mail <a@example.org> BODY=8BITMIME i=MILTERTEST {mail_addr}=a@example.org {auth_authen}=alice",
		"rcpt <b@example.net>  {rcpt_addr}=b@example.net {rcpt_host}=example.net",
		"rcpt <e@example.net> NOTIFY=SUCCESS,FAILURE {rcpt_addr}=e@example.net {rcpt_host}=example.net",
		`header From:"a@example.org"`,
		// The client sends folding with LF, as Postfix and Sendmail do;
		// miltersrv passes it on as it came.
		`header Subject:"hello\r\n folded"`,
		`header X-Drop:"me"`,
		`header To:"b@example.net"`,
		`body "Body line 1\r\nBody line 2\r\n"`,
		"eom",
	}
	if got := f.saw(); !reflect.DeepEqual(got, wantSeen) {
		t.Errorf("the milter saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSeen, "\n"))
	}
}

// TestMilterTestUnixSocket: a unix:/path milter, and the text report's
// last lines.
func TestMilterTestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "m.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, &testMilter{}, l, "")
	r := sluice(t, dir, "milter-test", "unix:"+sock)
	want := "result: continue at eom (exit 0)\nenvelope:\n  from: <sender@example.org>\n  to: <recipient@example.net>\n" +
		"--- message ---\n" + strings.ReplaceAll(mtSample, "\r\n", "\n") + "--- end of message ---\ntotal: X ms\n"
	if got := msTimes.ReplaceAllString(r.stdout, "X ms"); r.code != 0 || !strings.HasSuffix(got, want) ||
		!strings.HasPrefix(got, "milter: unix:"+sock+"\nnegotiated: version 6") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant exit 0 and a report ending in:\n%s", r.code, r.stderr, got, want)
	}
}

// TestMilterTestUsage: bad command lines and message files exit 2 with
// one line saying why, before any milter is contacted.
func TestMilterTestUsage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "cont.eml", " continued\r\nFrom: a\r\n\r\nbody\r\n")
	writeFile(t, dir, "nocolon.eml", "From: a\nnot a header\n\nbody\n")
	const help = "Run 'sluice --help' for usage.\n"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no address", nil, "sluice milter-test: want one milter ADDRESS, got 0 arguments\n" + help},
		{"two addresses", []string{"inet:1@127.0.0.1", "inet:2@127.0.0.1"}, "sluice milter-test: want one milter ADDRESS, got 2 arguments\n" + help},
		{"bad address", []string{"8891"}, `sluice milter-test: milter address "8891": want unix:/path, inet:port@host or inet6:port@host` + "\n" + help},
		{"bad macro", []string{"inet:1@127.0.0.1", "--macro", "novalue"}, `sluice milter-test: --macro "novalue": want NAME=VALUE` + "\n" + help},
		{"bad client", []string{"inet:1@127.0.0.1", "--client-addr", "host.example"}, `sluice milter-test: --client-addr: want an IP address or IP:port, got "host.example"` + "\n" + help},
		{"bad to", []string{"inet:1@127.0.0.1", "--to", "<>"}, `sluice milter-test: --to "<>": want an address` + "\n" + help},
		{"bad timeout", []string{"inet:1@127.0.0.1", "--timeout", "0s"}, "sluice milter-test: --timeout must be positive, got 0s\n" + help},
		{"missing eml", []string{"inet:1@127.0.0.1", "--eml", "nope.eml"}, "sluice milter-test: open nope.eml: no such file or directory\n"},
		{"continuation first", []string{"inet:1@127.0.0.1", "--eml", "cont.eml"}, "sluice milter-test: cont.eml: line 1: continuation line before any header field\n"},
		{"no colon", []string{"inet:1@127.0.0.1", "--eml", "nocolon.eml"}, `sluice milter-test: nocolon.eml: line 2: not a header field (want Name: value): "not a header"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, sluice(t, dir, append([]string{"milter-test"}, tt.args...)...), result{2, "", tt.want})
		})
	}
}

// TestParseEML: header fields keep their bytes and folding; line ends
// become CRLF; an mbox From line goes.
func TestParseEML(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		headers []filter.HeaderField
		body    string
	}{
		{"crlf", "A: 1\r\nB:2 \r\n\t3\r\n\r\nx\r\n", []filter.HeaderField{hf("A", " 1"), hf("B", "2 \r\n\t3")}, "x\r\n"},
		{"lf", "A: 1\nB: 2\n  3\n\nx\ny", []filter.HeaderField{hf("A", " 1"), hf("B", " 2\r\n  3")}, "x\r\ny"},
		{"mbox", "From a@b Mon Jan  1 00:00:00 2024\nA: 1\n\n\nx\n", []filter.HeaderField{hf("A", " 1")}, "\r\nx\r\n"},
		{"no body", "A: 1\r\n", []filter.HeaderField{hf("A", " 1")}, ""},
		{"no headers", "\r\nx", nil, "x"},
		{"empty", "", nil, ""},
		{"bare CR kept", "A: 1\r2\n\nx\ry\n", []filter.HeaderField{hf("A", " 1\r2")}, "x\ry\r\n"},
	}
	for _, tt := range tests {
		m, err := parseEML([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(m.headers, tt.headers) || !bytes.Equal(m.body, []byte(tt.body)) {
			t.Errorf("%s: headers %q body %q, want %q %q", tt.name, m.headers, m.body, tt.headers, tt.body)
		}
	}
}

// TestMilterTestInet6: an inet6:port@host milter.
func TestMilterTestInet6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	addr := serveOn(t, &testMilter{}, l, fmt.Sprintf("inet6:%d@::1", l.Addr().(*net.TCPAddr).Port))
	r := sluice(t, t.TempDir(), "milter-test", addr, "--client-addr", "[2001:db8::7]:25000")
	if r.code != 0 || !strings.Contains(r.stdout, "\nconnect localhost [2001:db8::7]:25000: continue (SMFIR_CONTINUE, ") ||
		!strings.Contains(r.stdout, "\nresult: continue at eom (exit 0)\n") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
}

func hf(name, value string) filter.HeaderField { return filter.HeaderField{Name: name, Value: value} }
