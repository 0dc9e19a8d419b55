package milterclient_test

// Interop with Sendmail's libmilter, the reference C library: the test
// builds testdata/libmilter/allmods.c (every modification function of
// libmilter, smfi_setsymlist, smfi_setmlreply, smfi_progress) with cc and
// -lmilter, runs it on unix, inet and inet6 sockets, and checks every
// edit, reply and macro exactly. Needs cc and libmilter-dev; skips without
// them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testProc is a program a test started. It is killed by its PID when the
// test ends: the programs are test fixtures with nothing to save, and
// libmilter's listener would notice SIGTERM only at its next 5-second poll.
type testProc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func startProc(t testing.TB, name string, args ...string) *testProc {
	t.Helper()
	p := &testProc{name: filepath.Base(name), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.stop() {
			t.Errorf("%s (pid %d) exited during the test: %v", p.name, p.cmd.Process.Pid, p.err)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.out)
		}
	})
	return p
}

// stop kills the process by its PID and reports whether it was still
// running.
func (p *testProc) stop() bool {
	select {
	case <-p.done:
		return false
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
	return true
}

// waitFor polls ready until it succeeds, the process exits, or 10 s pass.
func (p *testProc) waitFor(t testing.TB, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !ready() {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.err, what, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s after %v:\n%s", p.name, what, testTimeout, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t testing.TB, network, host string) int {
	t.Helper()
	l, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// shortTempDir is a new directory with a path short enough for a unix
// socket (t.TempDir paths can exceed the 108 bytes of sun_path).
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// buildLibmilter compiles testdata/libmilter/NAME.c into a temporary
// directory, or skips the test when cc or libmilter-dev is missing.
func buildLibmilter(t testing.TB, name string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc) to build the libmilter test milter: apt-get install gcc libmilter-dev")
	}
	src, err := filepath.Abs(filepath.Join("testdata", "libmilter", name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command(cc, "-O2", "-Wall", "-o", bin, src, "-lmilter", "-pthread").CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("mfapi.h")) || bytes.Contains(out, []byte("-lmilter")) {
			t.Skipf("libmilter-dev is not installed (apt-get install libmilter-dev):\n%s", out)
		}
		t.Fatalf("cc %s: %v\n%s", name, err, out)
	}
	return bin
}

// startAllmods runs the allmods milter on a new socket of the given kind
// (unix, inet or inet6) and returns its address.
func startAllmods(t testing.TB, bin, kind, mode string) string {
	t.Helper()
	var addr string
	switch kind {
	case "unix":
		addr = "unix:" + filepath.Join(shortTempDir(t), "allmods.sock")
	case "inet":
		addr = fmt.Sprintf("inet:%d@127.0.0.1", freePort(t, "tcp4", "127.0.0.1"))
	case "inet6":
		addr = fmt.Sprintf("inet6:%d@::1", freePort(t, "tcp6", "::1"))
	default:
		t.Fatalf("unknown socket kind %q", kind)
	}
	p := startProc(t, bin, addr, mode)
	p.waitFor(t, "listening socket", func() bool { return strings.Contains(p.out.String(), "listening on") })
	return addr
}

// lmEngine is an engine with more facts than newEngine's; allmods asks (with
// smfi_setsymlist) for some of them and records what it got.
func lmEngine(t testing.TB, c *milterclient.Milter) *engine {
	e := newEngine(t, c)
	for name, v := range map[string]string{
		"{daemon_addr}": "192.0.2.1", "{tls_version}": "TLSv1.3", "{cipher}": "TLS_AES_128_GCM_SHA256",
		"{cipher_bits}": "128", "{auth_authen}": "alice", "{auth_type}": "PLAIN",
		"{rcpt_mailer}": "smtp", "{rcpt_host}": "example.org",
	} {
		e.macros.Set(name, v)
	}
	return e
}

// lmTransaction drives MAIL to end of message like engine.transaction,
// and also returns each recipient's verdict.
func lmTransaction(e *engine, m message) ([]filter.Verdict, outcome) {
	e.qid++
	e.macros.Set("i", fmt.Sprintf("QID%d", e.qid))
	e.macros.Set("{mail_addr}", m.from.Addr)
	if v := e.sess.Mail(e.ctx, m.from); v != filter.Continue {
		return nil, outcome{stage: filter.StageMail, verdict: v}
	}
	var rv []filter.Verdict
	for _, r := range m.rcpts {
		e.macros.Set("{rcpt_addr}", r.Addr)
		rv = append(rv, e.sess.Rcpt(e.ctx, r))
	}
	if v := e.sess.Data(e.ctx); v != filter.Continue {
		return rv, outcome{stage: filter.StageData, verdict: v}
	}
	for _, h := range m.headers {
		if v := e.sess.Header(e.ctx, h[0], h[1]); v != filter.Continue {
			return rv, outcome{stage: filter.StageHeader, verdict: v}
		}
	}
	if v := e.sess.EndOfHeaders(e.ctx); v != filter.Continue {
		return rv, outcome{stage: filter.StageEndOfHeaders, verdict: v}
	}
	stop := func(st filter.Stage, v filter.Verdict) (outcome, bool) {
		return outcome{stage: st, verdict: v}, v != filter.Continue
	}
	if o, done := e.body(m, stop); done {
		return rv, o
	}
	return rv, e.eom()
}

func lmMessage(body []byte, rcpts ...string) message {
	m := message{
		from: envelope.Address{Addr: "a@example.com", Params: []envelope.Param{{Key: "SIZE", Value: "100"}, {Key: "BODY", Value: "8BITMIME"}}},
		headers: [][2]string{
			{"From", " a@example.com"}, {"To", " b@example.org"}, {"Subject", " hello there"},
			{"X-Remove", " one"}, {"X-Remove", " two"}, {"X-Multi", " first\r\n\tsecond"},
		},
		body: body,
	}
	for _, r := range rcpts {
		a := envelope.Address{Addr: r}
		if r == "b@example.org" {
			a.Params = []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS,FAILURE"}}
		}
		m.rcpts = append(m.rcpts, a)
	}
	return m
}

// lmWant is what allmods answers to one full message.
type lmWant struct {
	leadspc bool   // SMFIP_HDR_LEADSPC mode
	qid     string // macro i
	msg     int    // MAIL commands so far on the connection
	aborts  int    // xxfi_abort calls so far on the connection (see testAllmodsPlain)
	rcpts   []string
	first   string // first accepted recipient, which allmods deletes
	bodyLen int
}

// edits lists allmods' edits in the order it makes them. Without
// SMFIP_HDR_LEADSPC the client puts back the space after the colon that
// the milter leaves out; with it, values are verbatim.
func (w lmWant) edits() []filter.Edit {
	sp := " "
	if w.leadspc {
		sp = ""
	}
	seen := func(v string) filter.Edit { return filter.Edit{Kind: filter.AddHeader, Name: "X-Seen", Value: sp + v} }
	hdr := func(name, value string) filter.Edit {
		return seen(fmt.Sprintf("header %s:[%s%s]", name, map[bool]string{true: " "}[w.leadspc], value))
	}
	out := []filter.Edit{
		seen("connect client.test 192.0.2.7 40000 j=mx.test {daemon_name}=sluice {client_addr}=192.0.2.7 v=- _=- {daemon_addr}=-"),
		seen("helo client.test {tls_version}=TLSv1.3 {cipher}=TLS_AES_128_GCM_SHA256 {cipher_bits}=-"),
		seen(fmt.Sprintf("mail <a@example.com> SIZE=100 BODY=8BITMIME i=%s {mail_addr}=a@example.com {auth_authen}=alice {auth_type}=- msg=%d aborts=%d", w.qid, w.msg, w.aborts)),
	}
	for _, r := range w.rcpts {
		args := "<" + r + ">"
		if r == "b@example.org" {
			args += " NOTIFY=SUCCESS,FAILURE"
		}
		out = append(out, seen(fmt.Sprintf("rcpt %s {rcpt_addr}=%s {rcpt_mailer}=smtp {rcpt_host}=-", args, r)))
	}
	out = append(out,
		seen("data i="+w.qid),
		hdr("From", "a@example.com"), hdr("To", "b@example.org"), hdr("Subject", "hello there"),
		hdr("X-Remove", "one"), hdr("X-Remove", "two"), hdr("X-Multi", "first\r\n\tsecond"),
		seen("eoh headers=6"),
		seen(fmt.Sprintf("eom body=%d i=%s {auth_type}=PLAIN {mail_addr}=a@example.com", w.bodyLen, w.qid)),
		filter.Edit{Kind: filter.AddHeader, Name: "X-Folded", Value: sp + "first line\r\n\tsecond line"},
		filter.Edit{Kind: filter.InsertHeader, Index: 0, Name: "X-Top", Value: sp + "inserted first"},
		filter.Edit{Kind: filter.InsertHeader, Index: 2, Name: "X-Third", Value: sp + "inserted at index 2"},
		filter.Edit{Kind: filter.ChangeHeader, Index: 1, Name: "Subject", Value: sp + "[allmods] " + map[bool]string{true: " "}[w.leadspc] + "hello there"},
		filter.Edit{Kind: filter.DeleteHeader, Index: 2, Name: "X-Remove"},
		filter.Edit{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "added@example.org"}},
		filter.Edit{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "added-par@example.org", Params: []envelope.Param{
			{Key: "NOTIFY", Value: "SUCCESS,DELAY"}, {Key: "ORCPT", Value: "rfc822;added-par@example.org"}}}},
		filter.Edit{Kind: filter.DeleteRecipient, Address: envelope.Address{Addr: w.first}},
		filter.Edit{Kind: filter.ChangeSender, Address: envelope.Address{Addr: "bounces@example.com", Params: []envelope.Param{
			{Key: "RET", Value: "HDRS"}, {Key: "ENVID", Value: fmt.Sprintf("allmods-%d", w.msg)}}}},
		filter.Edit{Kind: filter.ReplaceBody},
		filter.Edit{Kind: filter.Quarantine, Reason: fmt.Sprintf("allmods: held for review (message %d)", w.msg)},
	)
	return out
}

// checkFull checks the outcome of a full message against want, and that
// the replaced body is the upper-case copy of body.
func checkFull(t *testing.T, o outcome, want lmWant, body []byte) {
	t.Helper()
	if o.stage != filter.StageEndOfMessage || o.verdict != filter.Continue {
		t.Fatalf("outcome %v at %v, want continue at eom", o.verdict, o.stage)
	}
	if w := want.edits(); !reflect.DeepEqual(o.edits, w) {
		t.Errorf("edits:%s\nwant:%s", lines(editStrings(o.edits)), lines(editStrings(w)))
	}
	if up := bytes.ToUpper(body); !bytes.Equal(o.body, up) {
		t.Errorf("replaced body: %d bytes, want the %d bytes upper-cased (equal prefix %v)", len(o.body), len(up), bytes.HasPrefix(up, o.body))
	}
}

func editStrings(es []filter.Edit) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%q", e.String())
	}
	return out
}

func TestLibmilter(t *testing.T) {
	bin := buildLibmilter(t, "allmods")
	for _, kind := range []string{"unix", "inet", "inet6"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			t.Run("plain", func(t *testing.T) { testAllmodsPlain(t, startAllmods(t, bin, kind, "plain")) })
			t.Run("leadspc", func(t *testing.T) { testAllmodsLeadSpace(t, startAllmods(t, bin, kind, "leadspc")) })
			t.Run("progress", func(t *testing.T) { testAllmodsProgress(t, startAllmods(t, bin, kind, "plain")) })
		})
	}
}

// wantSymLists is what allmods asks for with smfi_setsymlist.
var wantSymLists = map[filter.Stage][]string{
	filter.StageConnect:      {"j", "{daemon_name}", "{client_addr}"},
	filter.StageHelo:         {"{tls_version}", "{cipher}"},
	filter.StageMail:         {"i", "{mail_addr}", "{auth_authen}"},
	filter.StageRcpt:         {"{rcpt_addr}", "{rcpt_mailer}"},
	filter.StageEndOfMessage: {"i", "{auth_type}"},
}

// One SMTP connection carrying five transactions: every edit, a
// multi-line reject, a one-line tempfail, an RSET, every edit again; plus
// a rejected recipient and an unknown command.
func testAllmodsPlain(t *testing.T, addr string) {
	c := newClient(t, milterclient.Options{Address: addr})
	e := lmEngine(t, c)
	defer e.close()
	s := e.sess.(*milterclient.Session)
	if v := s.Connect(e.ctx, sampleConn()); v != filter.Continue {
		t.Fatalf("connect: %v (%v)", v, s.Err())
	}
	neg, ok := s.Negotiated()
	want := milterclient.Negotiation{Version: 6, Actions: milter.ActAll, Macros: wantSymLists}
	if !ok || !reflect.DeepEqual(neg, want) {
		t.Fatalf("negotiated %+v, want %+v", neg, want)
	}
	if v := s.Helo(e.ctx, "client.test"); v != filter.Continue {
		t.Fatalf("helo: %v", v)
	}
	wantUnknown := filter.Verdict{Action: filter.ActionReject, Reply: &filter.Reply{Code: 502, Enhanced: "5.5.2", Lines: []string{"Command not implemented: FOO bar"}}}
	if v := s.Unknown(e.ctx, "FOO bar"); !reflect.DeepEqual(v, wantUnknown) {
		t.Errorf("unknown command: %v, want %v", v, wantUnknown)
	}

	body := repeatBody(150000) // three body packets of at most 65535 bytes
	rv, o := lmTransaction(e, lmMessage(body, "b@example.org", "unknown@test", "c@example.org"))
	wantRcpt := []filter.Verdict{filter.Continue,
		{Action: filter.ActionReject, Reply: &filter.Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"No such user here"}}},
		filter.Continue}
	if !reflect.DeepEqual(rv, wantRcpt) {
		t.Errorf("recipient verdicts %v, want %v", rv, wantRcpt)
	}
	checkFull(t, o, lmWant{qid: "QID1", msg: 1, aborts: 0, rcpts: []string{"b@example.org", "unknown@test", "c@example.org"},
		first: "b@example.org", bodyLen: len(body)}, body)

	refusals := []struct {
		from string
		want filter.Verdict
	}{
		{"reply@test", filter.Verdict{Action: filter.ActionReject, Reply: &filter.Reply{Code: 550, Enhanced: "5.7.1",
			Lines: []string{"This sender is refused.", "Several lines explain why:", "see the policy page."}}}},
		{"tempfail@test", filter.Verdict{Action: filter.ActionTempFail, Reply: &filter.Reply{Code: 451, Enhanced: "4.3.2",
			Lines: []string{"Please try again later"}}}},
	}
	for _, r := range refusals {
		m := lmMessage(body, "b@example.org")
		m.from = envelope.Address{Addr: r.from}
		if _, o := lmTransaction(e, m); o.stage != filter.StageMail || !reflect.DeepEqual(o.verdict, r.want) {
			t.Errorf("MAIL FROM:<%s>: %v at %v, want %v at mail", r.from, o.verdict, o.stage, r.want)
		}
	}

	// RSET after RCPT.
	e.qid++
	e.macros.Set("i", "QID4")
	if v := s.Mail(e.ctx, envelope.Address{Addr: "a@example.com"}); v != filter.Continue {
		t.Fatalf("fourth MAIL: %v (%v)", v, s.Err())
	}
	if v := s.Rcpt(e.ctx, envelope.Address{Addr: "b@example.org"}); v != filter.Continue {
		t.Fatalf("fourth RCPT: %v", v)
	}
	s.Abort(e.ctx)

	// The client sent SMFIC_ABORT before each MAIL after the first and
	// at the RSET; libmilter calls xxfi_abort only for the one inside a
	// transaction (the RSET): after end of message or a refused MAIL it is
	// already out of the transaction.
	small := []byte("Short Body.\r\n")
	_, o = lmTransaction(e, lmMessage(small, "c@example.org"))
	checkFull(t, o, lmWant{qid: "QID5", msg: 5, aborts: 1, rcpts: []string{"c@example.org"}, first: "c@example.org", bodyLen: len(small)}, small)
	if err := s.Err(); err != nil {
		t.Errorf("session failed: %v", err)
	}
}

// SMFIP_HDR_LEADSPC, SMFIP_NR_HDR and SMFIP_NOUNKNOWN: header values go
// and come back verbatim, headers are not waited for, the unknown command
// is not sent. Debian's libmilter does not negotiate SMFIP_MDS_*, so body
// packets stay within 65535 bytes.
func testAllmodsLeadSpace(t *testing.T, addr string) {
	var mu sync.Mutex
	var bodyPackets []int
	c := newClient(t, milterclient.Options{Address: addr, Trace: func(tr milterclient.Trace) {
		if b, ok := tr.Command.(milter.Body); ok {
			mu.Lock()
			bodyPackets = append(bodyPackets, len(b.Chunk))
			mu.Unlock()
		}
	}})
	e := lmEngine(t, c)
	defer e.close()
	s := e.sess.(*milterclient.Session)
	if v := s.Connect(e.ctx, sampleConn()); v != filter.Continue {
		t.Fatalf("connect: %v (%v)", v, s.Err())
	}
	neg, _ := s.Negotiated()
	wantProto := milter.ProtoHdrLeadSpace | milter.ProtoNRHeader | milter.ProtoNoUnknown
	if neg.Protocol != wantProto || neg.Actions != milter.ActAll || !reflect.DeepEqual(neg.Macros, wantSymLists) {
		t.Fatalf("negotiated %+v, want protocol %v", neg, wantProto)
	}
	s.Helo(e.ctx, "client.test")
	if v := s.Unknown(e.ctx, "FOO bar"); v != filter.Continue {
		t.Errorf("unknown command (not sent, SMFIP_NOUNKNOWN): %v, want continue", v)
	}
	body := repeatBody(300000)
	for i := range 2 {
		_, o := lmTransaction(e, lmMessage(body, "b@example.org"))
		checkFull(t, o, lmWant{leadspc: true, qid: fmt.Sprintf("QID%d", i+1), msg: i + 1, aborts: 0,
			rcpts: []string{"b@example.org"}, first: "b@example.org", bodyLen: len(body)}, body)
	}
	mu.Lock()
	defer mu.Unlock()
	var want []int
	for range 2 {
		for n := len(body); n > 0; n -= 65535 {
			want = append(want, min(n, 65535))
		}
	}
	if !reflect.DeepEqual(bodyPackets, want) {
		t.Errorf("body packets %v, want %v", bodyPackets, want)
	}
}

// smfi_progress: the milter takes 1.5 s at end of message, sending
// SMFIR_PROGRESS every 0.5 s; with a 1 s end-of-message timeout the
// message only gets through because each one restarts the timer, and each
// reaches the engine through Modifier.Progress.
func testAllmodsProgress(t *testing.T, addr string) {
	c := newClient(t, milterclient.Options{Address: addr, EOMTimeout: time.Second})
	e := lmEngine(t, c)
	defer e.close()
	s := e.sess.(*milterclient.Session)
	s.Connect(e.ctx, sampleConn())
	s.Helo(e.ctx, "client.test")
	m := lmMessage([]byte("body\r\n"), "b@example.org")
	m.from = envelope.Address{Addr: "slow@test"}
	e.qid++
	for _, v := range []filter.Verdict{s.Mail(e.ctx, m.from), s.Rcpt(e.ctx, m.rcpts[0]), s.Data(e.ctx), s.EndOfHeaders(e.ctx),
		s.Body(e.ctx, m.body)} {
		if v != filter.Continue {
			t.Fatalf("before end of message: %v (%v)", v, s.Err())
		}
	}
	var progress int
	mod := filter.NewModifier(filter.AllEdits, func(context.Context) error { progress++; return nil })
	start := time.Now()
	v := s.EndOfMessage(e.ctx, mod)
	took := time.Since(start)
	if v != filter.Continue || s.Err() != nil {
		t.Fatalf("end of message after %v: %v (%v)", took, v, s.Err())
	}
	want := []filter.Edit{{Kind: filter.AddHeader, Name: "X-Slow", Value: " done"}}
	if !reflect.DeepEqual(mod.Edits(), want) || progress != 3 {
		t.Errorf("edits %v and %d progress calls, want %v and 3", mod.Edits(), progress, want)
	}
	if took < 1500*time.Millisecond {
		t.Errorf("end of message took %v: the milter did not stall", took)
	}
	// The connection goes on.
	e.macros.Set("i", "QID2")
	if v := s.Mail(e.ctx, envelope.Address{Addr: "a@example.com"}); v != filter.Continue {
		t.Errorf("next MAIL: %v (%v)", v, s.Err())
	}
}

// Concurrent SMTP connections each get their own libmilter thread and
// their own macros.
func TestLibmilterConcurrent(t *testing.T) {
	bin := buildLibmilter(t, "allmods")
	addr := startAllmods(t, bin, "unix", "plain")
	c := newClient(t, milterclient.Options{Address: addr})
	const sessions, messages = 8, 3
	errs := make(chan error, sessions)
	for n := range sessions {
		go func() {
			errs <- allmodsSession(t, c, n, messages)
		}()
	}
	for range sessions {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func allmodsSession(t *testing.T, c *milterclient.Milter, n, messages int) error {
	e := lmEngine(t, c)
	defer e.close()
	e.qid = n * 100
	e.sess.Connect(e.ctx, sampleConn())
	e.sess.Helo(e.ctx, "client.test")
	for i := range messages {
		body := repeatBody(1000 + 100*n + i)
		_, o := lmTransaction(e, lmMessage(body, "b@example.org"))
		want := lmWant{qid: fmt.Sprintf("QID%d", n*100+i+1), msg: i + 1, aborts: 0,
			rcpts: []string{"b@example.org"}, first: "b@example.org", bodyLen: len(body)}
		if o.verdict != filter.Continue || !reflect.DeepEqual(o.edits, want.edits()) || !bytes.Equal(o.body, bytes.ToUpper(body)) {
			return fmt.Errorf("session %d message %d: %v at %v, edits:%s", n, i, o.verdict, o.stage, lines(editStrings(o.edits)))
		}
	}
	if err := e.sess.(*milterclient.Session).Err(); err != nil {
		return errors.New("session failed: " + err.Error())
	}
	return nil
}
