package smtpclient

import (
	"bufio"
	cryptotls "crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptServer is a small SMTP server for tests that need the exact
// command lines a client sends, or a server that misbehaves on purpose.
// It answers every command with a plausible default unless reply says
// otherwise, and records each connection's commands and content.
type scriptServer struct {
	Addr string
	ext  []string // EHLO keywords
	// reply returns the reply to a command line (without CRLF); "" takes
	// the default, "hang" stops replying to this and every later command
	// (the server keeps reading).
	reply func(line string) string
	cert  *cryptotls.Certificate // STARTTLS offered when set
	junk  string                 // sent right after the 220 to STARTTLS

	mu    sync.Mutex
	conns [][]string // per connection: command lines, and "DATA:<content>"
}

const hang = "hang"

func startScript(t *testing.T, s *scriptServer) *scriptServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	var wg sync.WaitGroup
	conns := make(chan net.Conn, 100)
	t.Cleanup(func() {
		l.Close()
		close(conns)
		for c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
			s.mu.Lock()
			s.conns = append(s.conns, nil)
			n := len(s.conns) - 1
			s.mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); s.serve(c, n) }()
		}
	}()
	return s
}

func (s *scriptServer) record(n int, line string) {
	s.mu.Lock()
	s.conns[n] = append(s.conns[n], line)
	s.mu.Unlock()
}

// commands returns what connection n sent.
func (s *scriptServer) commands(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n >= len(s.conns) {
		return nil
	}
	return append([]string(nil), s.conns[n]...)
}

func (s *scriptServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *scriptServer) serve(c net.Conn, n int) {
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(text string) bool {
		_, err := w.WriteString(text + "\r\n")
		return err == nil && w.Flush() == nil
	}
	if !say("220 script.test ESMTP") {
		return
	}
	hung := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\r\n")
		s.record(n, line)
		rep := ""
		if s.reply != nil {
			rep = s.reply(line)
		}
		if hung = hung || rep == hang; hung {
			continue
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case rep != "":
			if !say(rep) {
				return
			}
		case verb == "EHLO" || verb == "LHLO":
			lines := append([]string{"script.test"}, s.ext...)
			if s.cert != nil {
				lines = append(lines, "STARTTLS")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				say("250" + sep + l)
			}
		case verb == "STARTTLS" && s.cert != nil:
			say("220 2.0.0 go ahead" + s.junk)
			tc := cryptotls.Server(c, &cryptotls.Config{Certificates: []cryptotls.Certificate{*s.cert}})
			if tc.Handshake() != nil {
				return
			}
			c, r, w = tc, bufio.NewReader(tc), bufio.NewWriter(tc)
		case verb == "XCLIENT":
			say("220 script.test ESMTP")
		case verb == "DATA":
			say("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			s.record(n, "DATA:"+data.String())
			say("250 2.0.0 queued")
		case verb == "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("250 2.0.0 ok")
		}
	}
}
