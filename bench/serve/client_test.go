//go:build linux

package servebench

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// greeting is what the child says first, with hostname bench.localhost.
const greeting = "220 bench.localhost ESMTP\r\n"

// dialIdle connects and reads the greeting, which must be exactly
// greeting. The connection then stays idle.
func dialIdle(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, len(greeting))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != greeting {
		c.Close()
		return nil, fmt.Errorf("greeting %q, %v; want %q", buf, err, greeting)
	}
	return c, nil
}

// client is one SMTP session, written by hand so the benchmark controls
// every byte it sends.
type client struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func dialClient(addr string) (*client, error) {
	c, err := dialIdle(addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &client{c: c, br: bufio.NewReader(c), bw: bufio.NewWriterSize(c, 64<<10)}, nil
}

// reply reads one reply, waiting at most timeout, and returns its last
// line without CRLF; the code must be want.
func (cl *client) reply(want int, timeout time.Duration) (string, error) {
	cl.c.SetReadDeadline(time.Now().Add(timeout))
	for range 100 {
		line, err := cl.br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimSuffix(line, "\r\n")
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
			return "", fmt.Errorf("malformed reply line %q", line)
		}
		if line[3] == '-' {
			continue
		}
		if code, _ := strconv.Atoi(line[:3]); code != want {
			return line, fmt.Errorf("reply %q, want %d", line, want)
		}
		return line, nil
	}
	return "", fmt.Errorf("reply longer than 100 lines")
}

// cmd sends one command line and reads its reply.
func (cl *client) cmd(line string, want int) (string, error) {
	cl.bw.WriteString(line + "\r\n")
	if err := cl.bw.Flush(); err != nil {
		return "", err
	}
	return cl.reply(want, 30*time.Second)
}

// send delivers one message with a body of about size bytes (whole lines)
// and returns the final reply and the SHA-256 and length of the body.
func (cl *client) send(size int64) (string, [32]byte, int64, error) {
	var sum [32]byte
	steps := []struct {
		line string
		want int
	}{
		{"EHLO client.test", 250},
		{fmt.Sprintf("MAIL FROM:<from@client.test> SIZE=%d", size+200), 250},
		{"RCPT TO:<to@example.test>", 250},
		{"DATA", 354},
	}
	for _, st := range steps {
		if r, err := cl.cmd(st.line, st.want); err != nil {
			return r, sum, 0, fmt.Errorf("%s: %w", st.line, err)
		}
	}
	cl.bw.WriteString("From: <from@client.test>\r\nTo: <to@example.test>\r\nSubject: bench\r\n\r\n")
	cl.c.SetWriteDeadline(time.Now().Add(10 * time.Minute))
	sum, n, err := writeBody(cl.bw, size)
	if err != nil {
		return "", sum, n, err
	}
	cl.bw.WriteString(".\r\n")
	if err := cl.bw.Flush(); err != nil {
		return "", sum, n, err
	}
	r, err := cl.reply(250, 5*time.Minute)
	return r, sum, n, err
}

func (cl *client) quit() {
	cl.cmd("QUIT", 221)
	cl.c.Close()
}

// bodyLine is the length of every body line, CRLF included.
const bodyLine = 80

// writeBody writes size/bodyLine lines (at least one) of bodyLine bytes:
// a line number, then letters, then CRLF. No line starts with a dot.
func writeBody(w io.Writer, size int64) ([32]byte, int64, error) {
	h := sha256.New()
	out := io.MultiWriter(w, h)
	lines := max(size/bodyLine, 1)
	line := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz", 4)[:bodyLine])
	line[bodyLine-2], line[bodyLine-1] = '\r', '\n'
	var n int64
	for i := range lines {
		copy(line, fmt.Sprintf("%010d ", i))
		k, err := out.Write(line)
		n += int64(k)
		if err != nil {
			return [32]byte{}, n, err
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}
