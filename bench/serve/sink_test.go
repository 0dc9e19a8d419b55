//go:build linux

package servebench

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// maxKeptHeader bounds the header section a sink keeps per message.
const maxKeptHeader = 64 << 10

// received is what the sink kept of one message.
type received struct {
	header  string   // the header section with its CRLFs and the empty line, up to maxKeptHeader
	bodyLen int64    // body bytes after the empty line, dot-unstuffed, CRLFs included
	bodySum [32]byte // SHA-256 of those bytes
}

// sink is a minimal SMTP server on loopback, the downstream of the child:
// it accepts every command, reads DATA without storing the body and keeps
// a summary of each message.
type sink struct {
	ln    net.Listener
	mu    sync.Mutex
	msgs  []received
	conns map[net.Conn]struct{}
	fresh chan struct{} // a message arrived; capacity 1
}

func newSink(tb testing.TB) *sink {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &sink{ln: ln, conns: make(map[net.Conn]struct{}), fresh: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.accept(&wg) }()
	tb.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) accept(wg *sync.WaitGroup) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// serve answers one connection; it ends at QUIT, EOF or any error.
func (s *sink) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriter(c)
	say := func(r string) error {
		bw.WriteString(r + "\r\n")
		if br.Buffered() > 0 { // more pipelined commands: answer them together
			return nil
		}
		return bw.Flush()
	}
	if say("220 sink ESMTP") != nil {
		return
	}
	for range 1_000_000 {
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimRight(line, "\r\n")), " ")
		switch verb {
		case "EHLO":
			err = say("250-sink\r\n250-8BITMIME\r\n250 PIPELINING")
		case "DATA":
			bw.WriteString("354 go ahead\r\n")
			if bw.Flush() != nil {
				return
			}
			var m received
			if m, err = readData(br); err != nil {
				return
			}
			s.add(m)
			err = say("250 2.0.0 Ok")
		case "QUIT":
			say("221 2.0.0 Bye")
			return
		default:
			err = say("250 2.0.0 Ok")
		}
		if err != nil {
			return
		}
	}
}

func (s *sink) add(m received) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	select {
	case s.fresh <- struct{}{}:
	default:
	}
}

// wait returns the messages once the sink has at least n, or an error
// after limit.
func (s *sink) wait(n int, limit time.Duration) ([]received, error) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs := append([]received(nil), s.msgs...)
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-s.fresh:
		case <-deadline.C:
			return msgs, fmt.Errorf("the sink has %d of %d messages after %v", len(msgs), n, limit)
		}
	}
}

// readData reads message content up to CRLF "." CRLF. Lines may be
// longer than the reader's buffer: they arrive in pieces, and only the
// first piece of a line can be the terminator or carry a stuffed dot.
func readData(br *bufio.Reader) (received, error) {
	var m received
	var hdr strings.Builder
	h := sha256.New()
	inHeader, lineStart := true, true
	for {
		piece, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		start := lineStart
		lineStart = err == nil
		if start && string(piece) == ".\r\n" {
			copy(m.bodySum[:], h.Sum(nil))
			m.header = hdr.String()
			return m, nil
		}
		if start && len(piece) > 0 && piece[0] == '.' {
			piece = piece[1:]
		}
		if inHeader {
			if hdr.Len()+len(piece) <= maxKeptHeader {
				hdr.Write(piece)
			}
			inHeader = !(start && string(piece) == "\r\n")
			continue
		}
		h.Write(piece)
		m.bodyLen += int64(len(piece))
	}
}
