package smtpd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// startProxyServer serves a listener that trusts PROXY headers from
// 127.0.0.1 only.
func startProxyServer(t *testing.T) *testServer {
	t.Helper()
	sp := newTestSpool(t)
	opts := baseOptions(sp)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := ProxyListener(l, ProxyOptions{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, HeaderTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{Server: srv, addr: l.Addr().String(), spool: sp}
}

func proxyHeader(t *testing.T, version byte, src string) string {
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:25")))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProxyProtocol(t *testing.T) {
	ts := startProxyServer(t)
	for i, v := range []byte{1, 2} {
		c := dial(t, ts.addr, "127.0.0.1")
		c.send(proxyHeader(t, v, "192.0.2.50:40000"))
		c.expect("220 mx.test ESMTP")
		c.ehlo("client.test")
		c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
		// The client is 192.0.2.50, not the trusted proxy.
		c.do("RCPT TO:<b@elsewhere.test>", "554 5.7.1 <b@elsewhere.test>: Relay access denied")
		c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
		c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: p\r\n\r\n.\r\n")
		c.reply()
		m := ts.spool.messages()[i]
		if m.Client.ClientAddr.String() != "192.0.2.50:40000" {
			t.Fatalf("PROXY v%d: client %v", v, m.Client.ClientAddr)
		}
	}
}

func TestProxyProtocolRefusals(t *testing.T) {
	ts := startProxyServer(t)
	// A header from a peer that is not a trusted proxy.
	c := dial(t, ts.addr, "127.0.0.2")
	c.send(proxyHeader(t, 1, "192.0.2.50:40000"))
	c.closed()
	// The trusted proxy must send one.
	c = dial(t, ts.addr, "127.0.0.1")
	c.closed()
	// Anyone else is served as is.
	c = dial(t, ts.addr, "127.0.0.3")
	c.expect("220 mx.test ESMTP")
	if _, err := ProxyListener(nil, ProxyOptions{}); err == nil {
		t.Error("ProxyListener without trusted networks")
	}
}
