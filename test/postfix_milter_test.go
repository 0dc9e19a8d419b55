package test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/test/peer"
)

const (
	// pmDir holds the message sent through Postfix and what must arrive.
	pmDir = "testdata/postfix_milter"
	// pmWait bounds every wait for Postfix to deliver, log or queue.
	pmWait = time.Minute
	// pmBatch is how many messages go over one SMTP connection.
	pmBatch = 20
)

// pmConfig is the sluice configuration under test; %s is the
// milter_server.listen value.
const pmConfig = `
log_level = "debug"

[milter_server]
listen = "%s"
shutdown_timeout = "5s"

[filters.headers]
add = ["X-Filtered-By: sluice"]
remove = ["X-Spam-Flag"]

[filters.access]
[[filters.access.rules]]
sender = "spammer@example.com"
action = "reject"
reply = "550 5.7.1 Sender spammer@example.com refused by policy"
[[filters.access.rules]]
recipient = "hold@example.org"
action = "quarantine"
reason = "held for review"
[[filters.access.rules]]
helo = "tempfail.example"
action = "tempfail"
reply = "451 4.7.1 Try again later"
`

// TestPostfixMilter puts a real `sluice milter` process (built from
// cmd/sluice, configured with pmConfig) behind a private Postfix as its
// smtpd_milters, relays to an smtp-sink, and checks with swaks and an SMTP
// client what Postfix makes of each verdict: header edits, a reject at
// MAIL, a tempfail at HELO, a quarantine onto the hold queue, many
// messages over one connection, and milter_default_action once sluice is
// stopped. It runs once with an inet socket and once with a unix socket.
func TestPostfixMilter(t *testing.T) {
	peer.Need(t, "postfix", "smtp-sink", "swaks")
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a private Postfix instance (its daemons switch to the postfix user)")
	}
	bin := mtBuildSluice(t)
	for _, transport := range []string{"inet", "unix"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			pmRun(t, bin, transport)
		})
	}
}

// pmRig is one sluice milter behind one Postfix that relays to one sink.
type pmRig struct {
	sluice *pmSluice
	pf     *peer.Postfix
	sink   *peer.Sink
}

// pmRun starts the peers and runs the scenarios in order; the last one
// stops sluice.
func pmRun(t *testing.T, bin, transport string) {
	r := &pmRig{sink: peer.StartSink(t, peer.SinkOptions{})}
	r.sluice = pmStartSluice(t, bin, transport)
	r.pf = peer.StartPostfix(t, peer.PostfixOptions{
		Relay: r.sink.Addr,
		Main: map[string]string{
			"smtpd_milters":         r.sluice.milter,
			"milter_default_action": "tempfail",
			"milter_protocol":       "6",
			"mynetworks":            "127.0.0.0/8",
		},
	})
	steps := []struct {
		name string
		run  func(*testing.T, *pmRig)
	}{
		{"clean message", pmClean},
		{"reject sender", pmRejectSender},
		{"tempfail helo", pmTempfailHelo},
		{"quarantine", pmQuarantine},
		{"batch on one connection", pmBatchOneConnection},
		{"nothing else delivered", pmNothingElse},
		{"milter down", pmMilterDown},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { s.run(t, r) })
		if s.name != "milter down" && !r.sluice.running() {
			t.Fatalf("sluice milter (pid %d) exited during %q: %v", r.sluice.cmd.Process.Pid, s.name, r.sluice.waitErr)
		}
	}
}

// swaks runs swaks against the rig's Postfix with the message in
// clean.eml and returns its transcript and exit status.
func (r *pmRig) swaks(t *testing.T, helo, from, to string) (string, int) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "message.eml")
	// swaks ends the data with CRLF "." itself, so the file must not end
	// in a newline for the content to arrive unchanged.
	if err := os.WriteFile(data, bytes.TrimSuffix(pmRead(t, "clean.eml"), []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := peer.Swaks(t, "--server", r.pf.Host, "--port", strconv.Itoa(r.pf.Port),
		"--helo", helo, "--from", from, "--to", to, "--data", "@"+data)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &exit):
		return out, exit.ExitCode()
	}
	t.Fatalf("swaks: %v\n%s", err, out)
	return "", 0
}

// pmClean: the clean message arrives with X-Spam-Flag removed, one
// X-Filtered-By added, and the rest byte for byte.
func pmClean(t *testing.T, r *pmRig) {
	out, code := r.swaks(t, "client.example", "alice@example.net", "bob@example.org")
	if code != 0 {
		t.Fatalf("swaks exit status %d, want 0:\n%s", code, out)
	}
	pmQueued(t, out)
	msgs := r.waitTo(t, "bob@example.org", 1)
	m := msgs[0]
	if m.From != "alice@example.net" || !slices.Equal(m.To, []string{"bob@example.org"}) {
		t.Errorf("envelope %q -> %q, want alice@example.net -> [bob@example.org]", m.From, m.To)
	}
	got := pmAfterReceived(t, m.Data)
	want := pmCRLF(pmRead(t, "clean.golden"))
	if !bytes.Equal(got, want) {
		t.Errorf("content after Postfix's Received:\n%q\nwant (clean.golden):\n%q", got, want)
	}
	if n := bytes.Count(m.Data, []byte("\r\nX-Filtered-By: sluice\r\n")); n != 1 {
		t.Errorf("%d X-Filtered-By: sluice fields, want 1", n)
	}
	if bytes.Contains(bytes.ToLower(m.Data), []byte("x-spam-flag")) {
		t.Errorf("X-Spam-Flag still present:\n%s", m.Data)
	}
}

// pmRejectSender: the sender rule's reply is Postfix's reply to MAIL.
func pmRejectSender(t *testing.T, r *pmRig) {
	out, code := r.swaks(t, "client.example", "spammer@example.com", "victim@example.org")
	if code != 23 { // swaks: error in MAIL transaction
		t.Fatalf("swaks exit status %d, want 23 (MAIL refused):\n%s", code, out)
	}
	pmWantReply(t, out, " -> MAIL FROM:<spammer@example.com>", "<** 550 5.7.1 Sender spammer@example.com refused by policy")
	pmOnlyError(t, out, "<** 550 5.7.1 Sender spammer@example.com refused by policy")
	r.pf.WaitLog(t, "NOQUEUE: milter-reject: MAIL from localhost[127.0.0.1]: 550 5.7.1 Sender spammer@example.com refused by policy;"+
		" from=<spammer@example.com> proto=ESMTP helo=<client.example>\n", pmWait)
}

// pmTempfailHelo: the HELO rule's tempfail reaches the client. Postfix
// answers EHLO itself (250) and gives a milter's HELO-stage verdict as the
// reply to MAIL, as it does with smtpd_delay_reject.
func pmTempfailHelo(t *testing.T, r *pmRig) {
	out, code := r.swaks(t, "tempfail.example", "alice@example.net", "carol@example.org")
	if code != 23 { // swaks: error in MAIL transaction
		t.Fatalf("swaks exit status %d, want 23 (MAIL refused):\n%s", code, out)
	}
	pmWantReply(t, out, " -> EHLO tempfail.example", "<-  250-postfix.test")
	pmWantReply(t, out, " -> MAIL FROM:<alice@example.net>", "<** 451 4.7.1 Try again later")
	pmOnlyError(t, out, "<** 451 4.7.1 Try again later")
	r.pf.WaitLog(t, "NOQUEUE: milter-reject: EHLO from localhost[127.0.0.1]: 451 4.7.1 Try again later;"+
		" proto=SMTP helo=<tempfail.example>\n", pmWait)
	r.pf.WaitLog(t, "NOQUEUE: milter-reject: MAIL from localhost[127.0.0.1]: 451 4.7.1 Try again later;"+
		" from=<alice@example.net> proto=ESMTP helo=<tempfail.example>\n", pmWait)
}

// pmQuarantine: the message is accepted, then held by Postfix.
func pmQuarantine(t *testing.T, r *pmRig) {
	out, code := r.swaks(t, "client.example", "alice@example.net", "hold@example.org")
	if code != 0 {
		t.Fatalf("swaks exit status %d, want 0:\n%s", code, out)
	}
	id := pmQueued(t, out)
	hold := r.pf.HoldQueue(t)
	if !slices.Equal(hold, []string{id}) {
		t.Errorf("hold queue %q, want exactly [%s]", hold, id)
	}
	// Postfix 3.7 logs that a milter held the message, not the reason.
	r.pf.WaitLog(t, id+": milter-hold: END-OF-MESSAGE from localhost[127.0.0.1]: milter triggers HOLD action;"+
		" from=<alice@example.net> to=<hold@example.org> proto=ESMTP helo=<client.example>\n", pmWait)
}

// pmBatchOneConnection sends pmBatch messages over one SMTP connection;
// each arrives with the header added.
func pmBatchOneConnection(t *testing.T, r *pmRig) {
	c, err := net.DialTimeout("tcp", r.pf.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(pmWait)); err != nil {
		t.Fatal(err)
	}
	sc, err := smtp.NewClient(c, r.pf.Hostname)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Hello("batch.example"); err != nil {
		t.Fatal(err)
	}
	for i := range pmBatch {
		if err := pmSendOne(sc, i); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := sc.Quit(); err != nil {
		t.Fatal(err)
	}
	msgs := r.waitTo(t, "batch@example.org", pmBatch)
	seen := make(map[string]bool)
	for _, m := range msgs {
		got := pmAfterReceived(t, m.Data)
		seen[string(got)] = true
	}
	for i := range pmBatch {
		if want := pmBatchWant(i); !seen[want] {
			t.Errorf("message %d did not arrive as\n%q", i, want)
		}
	}
	r.pf.WaitLog(t, fmt.Sprintf("disconnect from localhost[127.0.0.1] ehlo=1 mail=%d rcpt=%d data=%d quit=1 commands=%d",
		pmBatch, pmBatch, pmBatch, 3*pmBatch+2), pmWait)
}

// pmBatchMessage is message i of the batch as sent.
func pmBatchMessage(i int) string {
	return fmt.Sprintf("From: batch@example.net\r\nTo: batch@example.org\r\nSubject: batch %d\r\n"+
		"Date: Mon, 02 Jun 2025 10:00:00 +0000\r\nMessage-ID: <batch.%d@example.net>\r\n"+
		"X-Spam-Flag: YES\r\n\r\nmessage %d of the batch\r\n", i, i, i)
}

// pmBatchWant is message i as it must arrive, after Postfix's Received.
func pmBatchWant(i int) string {
	return strings.Replace(pmBatchMessage(i), "X-Spam-Flag: YES\r\n", "X-Filtered-By: sluice\r\n", 1)
}

func pmSendOne(sc *smtp.Client, i int) error {
	if err := sc.Mail("batch@example.net"); err != nil {
		return err
	}
	if err := sc.Rcpt("batch@example.org"); err != nil {
		return err
	}
	w, err := sc.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(pmBatchMessage(i))); err != nil {
		return err
	}
	return w.Close()
}

// pmNothingElse: once the queue holds nothing but the quarantined
// message, the sink has exactly the clean message and the batch.
func pmNothingElse(t *testing.T, r *pmRig) {
	var q []peer.QueueEntry
	deadline := time.Now().Add(pmWait)
	for {
		q = r.pf.Queue(t)
		if len(q) == 1 && q[0].QueueName == "hold" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue after %v: %+v, want only the held message", pmWait, q)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := q[0].Recipients; len(got) != 1 || got[0].Address != "hold@example.org" {
		t.Errorf("held message recipients %+v, want hold@example.org", got)
	}
	var to []string
	for _, m := range r.sink.Messages(t) {
		to = append(to, strings.Join(m.To, ","))
	}
	slices.Sort(to)
	want := append([]string{"bob@example.org"}, slices.Repeat([]string{"batch@example.org"}, pmBatch)...)
	slices.Sort(want)
	if !slices.Equal(to, want) {
		t.Errorf("sink recipients %q, want %q", to, want)
	}
}

// pmMilterDown stops sluice (exit 0) and checks that Postfix applies
// milter_default_action = tempfail.
func pmMilterDown(t *testing.T, r *pmRig) {
	r.sluice.stop(t)
	out, code := r.swaks(t, "client.example", "alice@example.net", "down@example.org")
	if code != 23 { // swaks: error in MAIL transaction
		t.Fatalf("swaks exit status %d, want 23 (MAIL refused):\n%s", code, out)
	}
	pmWantReply(t, out, " -> EHLO client.example", "<-  250-postfix.test")
	pmWantReply(t, out, " -> MAIL FROM:<alice@example.net>", "<** 451 4.7.1 Service unavailable - try again later")
	pmOnlyError(t, out, "<** 451 4.7.1 Service unavailable - try again later")
	r.pf.WaitLog(t, "warning: connect to Milter service "+r.sluice.milter+": ", pmWait)
	r.pf.WaitLog(t, "NOQUEUE: milter-reject: CONNECT from localhost[127.0.0.1]: 451 4.7.1 Service unavailable - try again later;"+
		" proto=SMTP\n", pmWait)
}

// waitTo waits until the sink holds n messages to rcpt and returns them.
func (r *pmRig) waitTo(t *testing.T, rcpt string, n int) []peer.Message {
	t.Helper()
	deadline := time.Now().Add(pmWait)
	for {
		var got []peer.Message
		for _, m := range r.sink.Messages(t) {
			if slices.Equal(m.To, []string{rcpt}) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			if len(got) > n {
				t.Fatalf("sink has %d messages to %s, want %d", len(got), rcpt, n)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d messages to %s after %v, want %d", len(got), rcpt, pmWait, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pmQueued returns the queue ID from Postfix's reply to the end of data
// and checks that the transcript has no error reply.
func pmQueued(t *testing.T, transcript string) string {
	t.Helper()
	const prefix = "<-  250 2.0.0 Ok: queued as "
	var ids []string
	for _, line := range pmLines(transcript) {
		if strings.HasPrefix(line, "<** ") {
			t.Fatalf("swaks transcript has the error reply %q:\n%s", line, transcript)
		}
		if id, ok := strings.CutPrefix(line, prefix); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("swaks transcript has %d lines %q, want 1:\n%s", len(ids), prefix+"ID", transcript)
	}
	return ids[0]
}

// pmWantReply checks that the transcript has the line cmd and that the
// line after it is reply.
func pmWantReply(t *testing.T, transcript, cmd, reply string) {
	t.Helper()
	lines := pmLines(transcript)
	i := slices.Index(lines, cmd)
	if i < 0 || i+1 == len(lines) || lines[i+1] != reply {
		t.Fatalf("swaks transcript lacks %q answered by %q:\n%s", cmd, reply, transcript)
	}
}

// pmOnlyError checks that want is the transcript's one error reply
// ("<** " line).
func pmOnlyError(t *testing.T, transcript, want string) {
	t.Helper()
	var errs []string
	for _, line := range pmLines(transcript) {
		if strings.HasPrefix(line, "<** ") {
			errs = append(errs, line)
		}
	}
	if !slices.Equal(errs, []string{want}) {
		t.Fatalf("swaks error replies %q, want [%q]:\n%s", errs, want, transcript)
	}
}

func pmLines(transcript string) []string {
	return strings.Split(strings.ReplaceAll(transcript, "\r\n", "\n"), "\n")
}

// pmAfterReceived returns the content after the first header field,
// which must be the Received field Postfix's smtpd prepends.
func pmAfterReceived(t *testing.T, data []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("Received: from ")) {
		t.Fatalf("content does not start with Postfix's Received field:\n%s", data)
	}
	rest := data
	for {
		_, tail, ok := bytes.Cut(rest, []byte("\r\n"))
		if !ok {
			t.Fatalf("content ends inside the Received field:\n%s", data)
		}
		rest = tail
		if len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			return rest
		}
	}
}

func pmRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pmDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pmCRLF turns the LF line ends of a testdata file into CRLF.
func pmCRLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// pmSluice is a running `sluice milter` process (miltertest_test.go's
// mtServer: running, stop, kill, log) and its address for Postfix.
type pmSluice struct {
	*mtServer
	milter string // its address in Postfix's smtpd_milters syntax
}

// pmStartSluice starts sluice milter on a loopback port ("inet") or a
// unix socket Postfix may connect to ("unix") and waits until it accepts.
// It is killed when the test ends, and its log printed if the test failed.
func pmStartSluice(t *testing.T, bin, transport string) *pmSluice {
	t.Helper()
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		listen, milter, network, addr := pmListen(t, transport)
		s, err := pmTryStart(t, bin, dir, listen, network, addr)
		if err == nil {
			s.milter = milter
			if network == "unix" {
				peer.AllowPostfix(t, addr)
			}
			return s
		}
		if network == "unix" || attempt == mtStartAttempts || !strings.Contains(s.log(), "address already in use") {
			t.Fatalf("%v\nsluice milter log:\n%s", err, s.log())
		}
	}
}

// pmListen returns a fresh socket: the milter_server.listen value, the
// smtpd_milters value, and the network and address to dial.
func pmListen(t *testing.T, transport string) (listen, milter, network, addr string) {
	if transport == "unix" {
		path := peer.SocketPath(t, "sluice.sock")
		return "unix:" + path, "unix:" + path, "unix", path
	}
	port := strconv.Itoa(peer.FreePort(t))
	return "inet:" + port + "@127.0.0.1", "inet:127.0.0.1:" + port, "tcp", net.JoinHostPort("127.0.0.1", port)
}

// pmTryStart starts one process and waits until addr accepts a
// connection; on error the process is gone.
func pmTryStart(t *testing.T, bin, dir, listen, network, addr string) (*pmSluice, error) {
	name := fmt.Sprintf("sluice-%d", time.Now().UnixNano())
	cfg := filepath.Join(dir, name+".toml")
	s := &pmSluice{mtServer: &mtServer{logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}}
	if err := os.WriteFile(cfg, fmt.Appendf(nil, pmConfig, listen), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, "milter", "--config", cfg)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sluice milter: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(mtStartTimeout)
	for {
		select {
		case <-s.done:
			return s, fmt.Errorf("sluice milter exited before listening on %s: %v", listen, s.waitErr)
		default:
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			s.kill()
			return s, fmt.Errorf("sluice milter not listening on %s after %v: %v", listen, mtStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("sluice milter log (%s):\n%s", listen, s.log())
		}
	})
	return s, nil
}
