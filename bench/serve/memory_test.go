//go:build linux

package servebench

import (
	"strings"
	"testing"
	"time"
)

// TestServe runs what the benchmarks run, small: the child greets 20 idle
// connections with the exact greeting, its VmRSS and VmHWM read, and one
// 1 MiB message arrives at the sink byte for byte with the header added.
func TestServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/sluice")
	}
	bin := buildSluice(t)
	sk := newSink(t)
	srv := startServe(t, bin, serveOptions{downstream: sk.addr(), maxConns: 40, maxSize: 2 << 20})
	base, err := baseRSS(srv)
	if err != nil || base < 1<<20 {
		t.Fatalf("VmRSS before = %d bytes, %v; want at least 1 MiB", base, err)
	}
	conns, err := openIdle(srv.addr, 20)
	defer closeAll(conns)
	if err != nil {
		t.Fatal(err)
	}
	var sent int
	var hwm uint64
	if err := sendChecked(srv, sk, 1<<20, &sent, &hwm); err != nil {
		t.Fatalf("%v\n%s", err, srv.logTail())
	}
	if hwm < base {
		t.Errorf("VmHWM %d below VmRSS before %d", hwm, base)
	}
	msgs, err := sk.wait(1, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("sink has %d messages, %v; want exactly 1", len(msgs), err)
	}
	if !strings.HasPrefix(msgs[0].header, "Received: from client.test (") {
		t.Errorf("the delivered message does not start with sluice's Received header:\n%s", msgs[0].header)
	}
}

// TestSinkReadData checks the sink's DATA reader: the terminator,
// dot-unstuffing, the header/body split and lines longer than its buffer.
func TestSinkReadData(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name, in, header, body string
	}{
		{"plain", "A: 1\r\n\r\nbody\r\n.\r\n", "A: 1\r\n\r\n", "body\r\n"},
		{"stuffed", "A: 1\r\n\r\n..x\r\n.\r\n", "A: 1\r\n\r\n", ".x\r\n"},
		{"no body", "A: 1\r\n\r\n.\r\n", "A: 1\r\n\r\n", ""},
		{"long line", "A: 1\r\n\r\n" + long + "\r\n.\r\n", "A: 1\r\n\r\n", long + "\r\n"},
		{"dot inside a long line", "A: 1\r\n\r\n" + long + ".\r\n.\r\n", "A: 1\r\n\r\n", long + ".\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := readData(newReader(tc.in + "NOOP\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			want := sha256Of(tc.body)
			if m.header != tc.header || m.bodyLen != int64(len(tc.body)) || m.bodySum != want {
				t.Errorf("got header %q, body %d bytes %x; want %q, %d bytes %x",
					m.header, m.bodyLen, m.bodySum, tc.header, len(tc.body), want)
			}
		})
	}
	if _, err := readData(newReader("A: 1\r\n\r\nbody\r\n")); err == nil {
		t.Error("content without the terminator: no error")
	}
}
