package peer

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// waitTimeout is generous: the CI machine has two slow cores.
const waitTimeout = 60 * time.Second

// testMessage has a line with a leading dot (stuffed on the wire) and no
// final newline: swaks ends the content with one CRLF.
const testMessage = "From: a@example.org\r\n" +
	"To: b@example.net\r\n" +
	"Subject: peer test\r\n" +
	"Message-ID: <peer-test@example.org>\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"\r\n" +
	"first line\r\n" +
	".leading dot\r\n" +
	"..two dots\r\n" +
	"\r\n" +
	"last line"

// writeMessage writes content to a file for swaks --data @FILE.
func writeMessage(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "message.eml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// swaksOK runs swaks and fails the test, with the transcript, if it fails.
func swaksOK(t *testing.T, args ...string) string {
	t.Helper()
	out, err := Swaks(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

func TestSinkSwaks(t *testing.T) {
	t.Parallel()
	Need(t, "smtp-sink", "swaks")
	tests := []struct {
		name      string
		sinkFlags []string
		swaks     []string
		from      string
		mailArgs  string
		proto     string
	}{
		{"smtp", nil, []string{"--from", "a@example.org"}, "a@example.org", "<a@example.org>", "ESMTP"},
		{"lmtp null sender", []string{"-L"}, []string{"--protocol", "LMTP", "--from", "<>"}, "", "<>", "LMTP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := StartSink(t, SinkOptions{Flags: tc.sinkFlags})
			args := append([]string{
				"--server", sink.Addr, "--helo", "client.test",
				"--to", "b@example.net,c@example.net",
				"--data", "@" + writeMessage(t, testMessage),
			}, tc.swaks...)
			swaksOK(t, args...)
			msgs := sink.WaitMessages(t, 1, waitTimeout)
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			m := msgs[0]
			want := Message{
				From: tc.from, To: []string{"b@example.net", "c@example.net"},
				MailArgs: tc.mailArgs, RcptArgs: []string{"<b@example.net>", "<c@example.net>"},
				Helo: "client.test", ClientAddr: "127.0.0.1", Proto: tc.proto,
				Data: []byte(testMessage + "\r\n"), Raw: m.Raw, Path: m.Path,
			}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("message\n got %+v\nwant %+v", m, want)
			}
			if filepath.Dir(m.Path) != sink.Dir {
				t.Errorf("dump %s is not in %s", m.Path, sink.Dir)
			}
		})
	}
}

// smtpConn is a line-oriented client for exact-byte tests.
type smtpConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	s := &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// send writes raw bytes, then reads one reply and checks its code.
func (s *smtpConn) send(raw, code string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(raw)); err != nil {
		s.t.Fatal(err)
	}
	s.expect(code)
}

// expect reads one (possibly multi-line) reply and checks its code.
func (s *smtpConn) expect(code string) {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read reply: %v", err)
		}
		if !strings.HasPrefix(line, code) {
			s.t.Fatalf("reply %q, want %s", line, code)
		}
		if len(line) < 4 || line[3] != '-' {
			return
		}
	}
}

// TestSinkInProgress checks that a transaction shows up only when complete,
// and pins how smtp-sink records dots and line ends.
func TestSinkInProgress(t *testing.T) {
	t.Parallel()
	sink := StartSink(t, SinkOptions{Hostname: "downstream.test"})
	c := dialSMTP(t, sink.Addr)
	c.send("EHLO raw.test\r\n", "250")
	c.send("MAIL FROM:<\"odd>local\"@example.org> BODY=8BITMIME\r\n", "250")
	c.send("RCPT TO:<x@example.net> NOTIFY=NEVER\r\n", "250")
	c.send("DATA\r\n", "354")
	if _, err := c.c.Write([]byte("Subject: raw\r\n\r\n..stuffed\r\nbare\nlf\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Messages(t)); n != 0 {
		t.Fatalf("%d messages while DATA is in progress, want 0", n)
	}
	c.send(".\r\n", "250")
	msgs := sink.Messages(t) // the dump is closed before the 250
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != `"odd>local"@example.org` || m.MailArgs != `<"odd>local"@example.org> BODY=8BITMIME` {
		t.Errorf("From %q, MailArgs %q", m.From, m.MailArgs)
	}
	if fmt.Sprint(m.To, m.RcptArgs) != "[x@example.net] [<x@example.net> NOTIFY=NEVER]" {
		t.Errorf("To %q, RcptArgs %q", m.To, m.RcptArgs)
	}
	if m.Helo != "raw.test" || m.Proto != "ESMTP" {
		t.Errorf("Helo %q, Proto %q", m.Helo, m.Proto)
	}
	// The bare LF comes back as CRLF: smtp-sink drops CRs (see Message).
	if want := "Subject: raw\r\n\r\n.stuffed\r\nbare\r\nlf\r\n"; string(m.Data) != want {
		t.Errorf("Data %q, want %q", m.Data, want)
	}
	if !strings.Contains(string(m.Raw), "\tby downstream.test (smtp-sink) with ESMTP id ") {
		t.Errorf("dump does not name the sink's hostname:\n%s", m.Raw)
	}
	c.send("RSET\r\nMAIL FROM:<a@example.org>\r\n", "250")
	c.expect("250")
	c.send("RSET\r\n", "250") // an aborted transaction leaves no dump
	c.send("QUIT\r\n", "221")
	if n := len(sink.Messages(t)); n != 1 {
		t.Errorf("%d messages after an aborted transaction, want 1", n)
	}
}

func TestSinkRejects(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	sink := StartSink(t, SinkOptions{Flags: []string{"-f", "RCPT"}})
	out, err := Swaks(t, "--server", sink.Addr, "--from", "a@example.org", "--to", "b@example.net")
	if err == nil {
		t.Fatalf("swaks succeeded against a sink rejecting RCPT:\n%s", out)
	}
	if !strings.Contains(out, "<** 500 5.3.0 Error: command failed") {
		t.Errorf("transcript lacks the rejection:\n%s", out)
	}
	if n := len(sink.Messages(t)); n != 0 {
		t.Errorf("%d messages, want 0", n)
	}
}
