package test

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// svSinkHost is the raw sink's greeting name.
	svSinkHost = "rawsink.test"
	// svSinkMaxLine bounds a command line the sink reads.
	svSinkMaxLine = 64 << 10
	// svSinkMaxData bounds the content of one message.
	svSinkMaxData = 64 << 20
	// svSinkIdle bounds how long the sink waits for a client's next bytes.
	svSinkIdle = 2 * time.Minute
)

// svMsg is one message the raw sink accepted.
type svMsg struct {
	Helo  string   // EHLO/HELO argument
	Mail  string   // the MAIL command line, as sent
	Rcpts []string // the RCPT command lines, as sent
	Pre   []string // other commands of the transaction and session before MAIL (XCLIENT, XFORWARD, RSET...)
	Data  []byte   // the exact bytes between the 354 reply and the final ".\r\n": dot-stuffed, as on the wire
}

// hasRcpt reports whether one of the RCPT commands names addr.
func (m svMsg) hasRcpt(addr string) bool {
	return slices.Contains(m.Rcpts, "RCPT TO:<"+addr+">")
}

// svSink is a small SMTP server written for these tests: unlike smtp-sink,
// which drops CR bytes, it records the exact bytes of each message's
// content, so a bare CR or LF relayed downstream shows. It offers
// PIPELINING, 8BITMIME and ENHANCEDSTATUSCODES, accepts every sender and
// recipient, and records every command line it reads.
type svSink struct {
	Addr string
	ln   net.Listener
	// defer421 makes it greet with 421 (a downstream that is down but
	// listening), so that messages stay in sluice's queue.
	defer421 atomic.Bool

	mu    sync.Mutex
	msgs  []svMsg
	cmds  []string // every command line, all sessions
	conns []net.Conn
	wg    sync.WaitGroup
}

// svStartSink listens on a free loopback port; the sink stops when the
// test ends.
func svStartSink(t *testing.T) *svSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &svSink{Addr: ln.Addr().String(), ln: ln}
	k.wg.Add(1)
	go k.accept()
	t.Cleanup(k.close)
	return k
}

func (k *svSink) accept() {
	defer k.wg.Done()
	for {
		c, err := k.ln.Accept()
		if err != nil {
			return
		}
		k.mu.Lock()
		k.conns = append(k.conns, c)
		k.mu.Unlock()
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			defer c.Close()
			k.serve(c)
		}()
	}
}

func (k *svSink) close() {
	k.ln.Close()
	k.mu.Lock()
	for _, c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	k.wg.Wait()
}

// Downstream returns the downstream.address for sluice.
func (k *svSink) Downstream() string { return "smtp://" + k.Addr }

// serve runs one session.
func (k *svSink) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	if k.defer421.Load() {
		_, _ = c.Write([]byte("421 4.3.2 " + svSinkHost + " not accepting mail now\r\n"))
		return
	}
	write := func(s string) bool {
		_ = c.SetWriteDeadline(time.Now().Add(svSinkIdle))
		_, err := c.Write([]byte(s + "\r\n"))
		return err == nil
	}
	write("220 " + svSinkHost + " ESMTP")
	var cur svMsg
	var helo string
	var pre []string
	for {
		line, err := svReadLine(c, br)
		if err != nil {
			return
		}
		k.mu.Lock()
		k.cmds = append(k.cmds, line)
		k.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		ok := true
		switch {
		case verb == "EHLO" || verb == "HELO":
			helo, cur, pre = arg, svMsg{}, nil
			ok = write("250-" + svSinkHost + "\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			cur = svMsg{Helo: helo, Mail: line, Pre: pre}
			ok = write("250 2.1.0 Ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			cur.Rcpts = append(cur.Rcpts, line)
			ok = write("250 2.1.5 Ok")
		case verb == "DATA":
			ok = k.data(c, br, cur, write)
			cur, pre = svMsg{}, nil
		case verb == "RSET":
			cur, pre = svMsg{}, nil
			ok = write("250 2.0.0 Ok")
		case verb == "NOOP":
			ok = write("250 2.0.0 Ok")
		case verb == "QUIT":
			write("221 2.0.0 Bye")
			return
		default:
			pre = append(pre, line)
			ok = write("502 5.5.1 Command not implemented")
		}
		if !ok {
			return
		}
	}
}

// data answers DATA: it records the content up to the final ".\r\n" and
// the message.
func (k *svSink) data(c net.Conn, br *bufio.Reader, m svMsg, write func(string) bool) bool {
	if m.Mail == "" || len(m.Rcpts) == 0 {
		return write("503 5.5.1 Need MAIL and RCPT")
	}
	if !write("354 End data with <CR><LF>.<CR><LF>") {
		return false
	}
	var buf []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(svSinkIdle))
		b, err := br.ReadByte()
		if err != nil {
			return false
		}
		buf = append(buf, b)
		if bytes.Equal(buf, []byte(".\r\n")) || bytes.HasSuffix(buf, []byte("\r\n.\r\n")) {
			break
		}
		if len(buf) > svSinkMaxData {
			return false
		}
	}
	m.Data = buf[:len(buf)-3]
	k.mu.Lock()
	k.msgs = append(k.msgs, m)
	k.mu.Unlock()
	return write("250 2.0.0 Ok: queued by " + svSinkHost)
}

// svReadLine reads a command line ended by CRLF (a bare LF ends it too)
// and returns it without the line end.
func svReadLine(c net.Conn, br *bufio.Reader) (string, error) {
	var line []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(svSinkIdle))
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > svSinkMaxLine {
			return "", errors.New("line too long")
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return string(bytes.TrimSuffix(line, []byte("\r"))), nil
}

// messages returns the messages accepted so far, in order.
func (k *svSink) messages() []svMsg {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.msgs)
}

// commands returns every command line read so far.
func (k *svSink) commands() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.cmds)
}

// to returns the messages that have addr among their recipients.
func (k *svSink) to(addr string) []svMsg {
	var out []svMsg
	for _, m := range k.messages() {
		if m.hasRcpt(addr) {
			out = append(out, m)
		}
	}
	return out
}

// wait waits until n messages for addr have arrived and returns them; it
// fails the test after svWait.
func (k *svSink) wait(t *testing.T, addr string, n int) []svMsg {
	t.Helper()
	deadline := time.Now().Add(svWait)
	for {
		got := k.to(addr)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("raw sink: %d of %d messages for <%s> after %v", len(got), n, addr, svWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOne waits for the message for addr and checks that exactly one
// came, also after a second delivery would have had time to arrive.
func (k *svSink) waitOne(t *testing.T, addr string) svMsg {
	t.Helper()
	k.wait(t, addr, 1)
	time.Sleep(200 * time.Millisecond)
	got := k.to(addr)
	if len(got) != 1 {
		t.Fatalf("raw sink: %d messages for <%s>, want exactly 1", len(got), addr)
	}
	return got[0]
}
