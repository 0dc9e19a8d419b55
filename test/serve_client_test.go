package test

import (
	"bufio"
	"bytes"
	cryptotls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	// svGreeting is sluice's greeting.
	svGreeting = "220 " + svHost + " ESMTP"
	// svQueuedRE matches the reply to a message sluice accepted; the
	// group is the queue ID.
	svQueuedRE = `^250 2\.0\.0 Ok: queued as ([0-9a-f]{16})$`
	// svReplyTimeout bounds the wait for one reply.
	svReplyTimeout = 30 * time.Second
	// svMaxReplyLines bounds the lines of one reply.
	svMaxReplyLines = 100
)

// svConn is a raw SMTP client: it writes exactly the bytes a test gives
// and reads replies whole, so a test can assert every reply line.
type svConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// svDial connects to addr from the local address local ("" for any) and
// returns the connection; it is closed when the test ends.
func svDial(t *testing.T, addr, local string) *svConn {
	t.Helper()
	c, err := svTryDial(addr, local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.c.Close() })
	c.t = t
	return c
}

func svTryDial(addr, local string) (*svConn, error) {
	d := net.Dialer{Timeout: svReplyTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %q: %w", addr, local, err)
	}
	return &svConn{c: nc, br: bufio.NewReader(nc)}, nil
}

// svOpen connects, checks the greeting and sends EHLO, checking its
// reply against ehlo (see svEHLO).
func svOpen(t *testing.T, addr, local, helo, ehlo string) *svConn {
	t.Helper()
	c := svDial(t, addr, local)
	c.expect(svGreeting)
	c.cmd("EHLO "+helo, ehlo)
	return c
}

// Extensions sluice offers beyond the fixed list, as svEHLO takes them.
const (
	svExtTLS      = "STARTTLS"
	svExtAuth     = "AUTH PLAIN LOGIN"
	svExtXClient  = "XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT"
	svExtXForward = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"
	// svDefaultSize is smtp.max_message_size's default, 50 MiB.
	svDefaultSize = 50 << 20
)

// svEHLO is sluice's EHLO reply with SIZE size and the extensions more
// (svExtTLS, svExtAuth, ...), in the order sluice lists them.
func svEHLO(size int64, more ...string) string {
	lines := []string{svHost, "PIPELINING", fmt.Sprintf("SIZE %d", size), "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"}
	lines = append(lines, more...)
	for i := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		lines[i] = "250" + sep + lines[i]
	}
	return strings.Join(lines, "\n")
}

// write sends s as it is.
func (c *svConn) write(s string) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(svReplyTimeout))
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("write %q: %v", svShort(s), err)
	}
}

// reply reads one reply and returns its lines joined by "\n", without
// the CRLFs.
func (c *svConn) reply() (string, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(svReplyTimeout))
	var lines []string
	for range svMaxReplyLines {
		l, err := c.br.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		l, ok := strings.CutSuffix(l, "\r\n")
		if !ok {
			return "", fmt.Errorf("reply line %q not ended by CRLF", l)
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
	return "", fmt.Errorf("reply longer than %d lines", svMaxReplyLines)
}

// expect reads one reply and checks it is exactly want.
func (c *svConn) expect(want string) {
	c.t.Helper()
	got, err := c.reply()
	if err != nil {
		c.t.Fatalf("reading the reply (want %q): %v (got %q)", want, err, got)
	}
	if got != want {
		c.t.Fatalf("reply %q\nwant  %q", got, want)
	}
}

// match reads one reply, checks it matches the regexp re, and returns
// its first group.
func (c *svConn) match(re string) string {
	c.t.Helper()
	got, err := c.reply()
	if err != nil {
		c.t.Fatalf("reading the reply (want /%s/): %v (got %q)", re, err, got)
	}
	m := regexp.MustCompile(re).FindStringSubmatch(got)
	if m == nil {
		c.t.Fatalf("reply %q does not match /%s/", got, re)
	}
	if len(m) > 1 {
		return m[1]
	}
	return m[0]
}

// cmd sends a command line and checks the reply is exactly want.
func (c *svConn) cmd(line, want string) {
	c.t.Helper()
	c.write(line + "\r\n")
	c.expect(want)
}

// closed checks that the server closed the connection: nothing more to
// read.
func (c *svConn) closed() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(svReplyTimeout))
	rest, err := io.ReadAll(c.br)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		c.t.Fatalf("after the last reply: %v (read %q)", err, rest)
	}
	if len(rest) > 0 {
		c.t.Fatalf("server sent %q after the last reply, want the connection closed", rest)
	}
}

// quit sends QUIT and checks the reply and the close.
func (c *svConn) quit() {
	c.t.Helper()
	c.cmd("QUIT", "221 2.0.0 Bye")
	c.closed()
}

// starttls sends STARTTLS and makes the TLS handshake (any certificate).
func (c *svConn) starttls() *cryptotls.ConnectionState {
	c.t.Helper()
	c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	return c.starttlsHandshake()
}

// starttlsHandshake makes the TLS handshake after the 220 to STARTTLS.
func (c *svConn) starttlsHandshake() *cryptotls.ConnectionState {
	c.t.Helper()
	if c.br.Buffered() > 0 {
		c.t.Fatalf("server sent %d bytes after its 220 to STARTTLS", c.br.Buffered())
	}
	tc := cryptotls.Client(c.c, &cryptotls.Config{InsecureSkipVerify: true, ServerName: svHost})
	_ = tc.SetDeadline(time.Now().Add(svReplyTimeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.c, c.br = tc, bufio.NewReader(tc)
	st := tc.ConnectionState()
	return &st
}

// send runs one transaction (MAIL, each RCPT, DATA) with content, which
// it dot-stuffs, checking each reply, and returns the queue ID.
func (c *svConn) send(from string, rcpts []string, content []byte) string {
	c.t.Helper()
	c.cmd("MAIL FROM:<"+from+">", "250 2.1.0 Ok")
	for _, r := range rcpts {
		c.cmd("RCPT TO:<"+r+">", "250 2.1.5 Ok")
	}
	c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.write(string(svStuff(content)) + ".\r\n")
	return c.match(svQueuedRE)
}

// svShort shortens a long string for a message.
func svShort(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s... (%d bytes)", s[:80], len(s))
	}
	return s
}

// svStuff dot-stuffs content (RFC 5321 §4.5.2) for DATA: a line that
// starts with "." gets another; content must end with CRLF.
func svStuff(content []byte) []byte {
	var b bytes.Buffer
	atStart := true
	for i, ch := range content {
		if atStart && ch == '.' {
			b.WriteByte('.')
		}
		b.WriteByte(ch)
		atStart = ch == '\n' && i > 0 && content[i-1] == '\r'
	}
	return b.Bytes()
}

// svBare returns the offset of the first bare CR or bare LF in b, or -1.
func svBare(b []byte) int {
	for i, ch := range b {
		switch {
		case ch == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return i
		case ch == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

// svCRLF turns the "\n" of a test's text into CRLF.
func svCRLF(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// svFiltered is content as sluice's default filter leaves it: the
// X-Filtered-By field added at the end of the header section.
func svFiltered(content []byte) []byte {
	head, body, ok := bytes.Cut(content, []byte("\r\n\r\n"))
	if !ok {
		panic("svFiltered: content without a header section")
	}
	out := append(append([]byte{}, head...), "\r\nX-Filtered-By: sluice\r\n\r\n"...)
	return append(out, body...)
}

// svDateRE matches the date of a Received field.
const svDateRE = `(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}`

// svReceived describes the Received field sluice must add.
type svReceived struct {
	Helo, Name, Addr string // "from HELO (NAME [ADDR])"
	TLS              bool   // a "(using TLS... with cipher ...)" line
	Proto            string // ESMTP, ESMTPS, ESMTPSA, SMTP...
	For              string // the single recipient; "" for none
}

// re returns the regexp of the whole field, anchored at the start of the
// content; its group is the queue ID.
func (r svReceived) re() *regexp.Regexp {
	q := regexp.QuoteMeta
	s := `^Received: from ` + q(r.Helo) + ` \(` + q(r.Name) + ` \[` + q(r.Addr) + `\]\)\r\n`
	if r.TLS {
		s += `\t\(using TLSv1\.[23] with cipher [A-Z0-9_]+ \([0-9]+ bits\)\)\r\n`
	}
	s += `\tby ` + q(svHost) + ` \(sluice\) with ` + q(r.Proto) + ` id ([0-9a-f]{16})`
	if r.For != "" {
		s += `\r\n\tfor <` + q(r.For) + `>`
	}
	return regexp.MustCompile(s + `; ` + svDateRE + `\r\n`)
}

// svCheckRelayed checks the bytes sluice sent downstream: its Received
// field (for queue ID id), then content with the filter's edit, dot-stuffed,
// and no bare CR or LF anywhere.
func svCheckRelayed(t *testing.T, m svMsg, r svReceived, id string, content []byte) {
	t.Helper()
	if i := svBare(m.Data); i >= 0 {
		t.Fatalf("relayed content has a bare CR or LF at offset %d: %q", i, m.Data)
	}
	loc := r.re().FindSubmatchIndex(m.Data)
	if loc == nil {
		t.Fatalf("relayed content does not start with the Received field /%s/:\n%q", r.re(), m.Data)
	}
	if got := string(m.Data[loc[2]:loc[3]]); got != id {
		t.Errorf("Received field names queue ID %s, want %s (from the 250 reply)", got, id)
	}
	want := svStuff(svFiltered(content))
	if got := m.Data[loc[1]:]; !bytes.Equal(got, want) {
		t.Fatalf("relayed content after the Received field:\n%q\nwant\n%q", got, want)
	}
}
