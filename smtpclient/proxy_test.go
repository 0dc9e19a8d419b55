package smtpclient

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// holdProxy sits between the client and a downstream and proves
// pipelining: once the client has sent MAIL, it holds the downstream's
// replies back until the client has also sent DATA. A client that waits
// for the reply to MAIL before sending RCPT never gets it; after holdMax
// the proxy gives up, lets the replies through and records that the
// commands were not pipelined.
type holdProxy struct {
	Addr   string
	target string
	l      net.Listener

	mu        sync.Mutex
	stream    bytes.Buffer // everything the client sent, all connections
	groups    int          // MAIL...DATA groups that arrived without waiting
	stalls    int          // groups the proxy had to give up on
	connCount int
}

const holdMax = 3 * time.Second

func startHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{Addr: l.Addr().String(), target: target, l: l}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	return p
}

func (p *holdProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	p.mu.Lock()
	p.connCount++
	start := p.stream.Len() // this connection's part of the stream
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.stream.Write(buf[:n])
				p.mu.Unlock()
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = server.(*net.TCPConn).CloseWrite()
				return
			}
		}
	}()
	p.replies(client, server, start)
	<-done
}

// replies copies the server's replies to the client, holding back those
// that come after an unanswered MAIL until DATA follows it.
func (p *holdProxy) replies(client, server net.Conn, start int) {
	buf := make([]byte, 4096)
	mailSeen := 0 // MAIL commands already accounted for
	for {
		n, err := server.Read(buf)
		if n > 0 {
			mailSeen = p.hold(start, mailSeen)
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold waits, if a new MAIL has been sent, until DATA follows it.
func (p *holdProxy) hold(start, mailSeen int) int {
	deadline := time.Now().Add(holdMax)
	for {
		p.mu.Lock()
		s := p.stream.Bytes()[start:]
		mails := bytes.Count(s, []byte("MAIL FROM:"))
		if mails == mailSeen {
			p.mu.Unlock()
			return mailSeen
		}
		last := bytes.LastIndex(s, []byte("MAIL FROM:"))
		if bytes.Contains(s[last:], []byte("\r\nDATA\r\n")) {
			p.groups++
			p.mu.Unlock()
			return mails
		}
		if time.Now().After(deadline) {
			p.stalls++
			p.mu.Unlock()
			return mails
		}
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// result returns the client stream and the pipelined and stalled groups.
func (p *holdProxy) result() (stream string, groups, stalls, conns int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stream.String(), p.groups, p.stalls, p.connCount
}
