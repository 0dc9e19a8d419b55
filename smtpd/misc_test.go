package smtpd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

// panicFilter panics at HELO.
type panicFilter struct{ recFilter }

func (f *panicFilter) NewSession(ctx context.Context, m filter.Macros) (filter.Session, error) {
	return &panicSession{recSession{f: &f.recFilter, m: m}}, nil
}

type panicSession struct{ recSession }

func (s *panicSession) Helo(context.Context, string) filter.Verdict { panic("filter bug") }

func TestPanicIsContained(t *testing.T) {
	f := &panicFilter{}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO client.test", "421 4.3.0 mx.test Internal error, closing connection")
	c.closed()
	waitEvents(t, &f.recFilter, 2) // connect, close
	if got := f.log(); got[len(got)-1] != "close" {
		t.Fatalf("the filter session was not closed: %q", got)
	}
	if !strings.Contains(ts.logs.String(), "panic in session") {
		t.Error("the panic was not logged")
	}
	dial(t, ts.addr, "").expect("220 mx.test ESMTP")
}

// fakeResolver knows 127.0.0.1 as mail.example.test (confirmed) and
// 127.0.0.2 as liar.example.test (which resolves elsewhere); 127.0.0.3
// fails temporarily.
type fakeResolver struct{}

func (fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	switch addr {
	case "127.0.0.1":
		return []string{"mail.example.test."}, nil
	case "127.0.0.2":
		return []string{"liar.example.test."}, nil
	case "127.0.0.3":
		return nil, &net.DNSError{Err: "server misbehaving", IsTemporary: true}
	}
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

func (fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch host {
	case "mail.example.test":
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	case "liar.example.test":
		return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil
	}
	return nil, errors.New("no such host")
}

func TestReverseDNS(t *testing.T) {
	f := &recFilter{macros: []string{"_", "{client_name}", "{client_ptr}"}}
	opts := baseOptions(newTestSpool(t))
	opts.Resolver = fakeResolver{}
	opts.Filter = f
	ts := startServer(t, opts)
	for i, local := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		c := dial(t, ts.addr, local)
		c.expect("220 mx.test ESMTP")
		c.do("QUIT", "221 2.0.0 Bye")
		waitEvents(t, f, 3*(i+1)) // open, connect, close
	}
	var connects []string
	for _, e := range f.log() {
		if strings.HasPrefix(e, "connect ") {
			i := strings.Index(e, " _=")
			connects = append(connects, strings.Fields(e)[1]+e[i:])
		}
	}
	want := []string{
		"mail.example.test _=mail.example.test [127.0.0.1] {client_name}=mail.example.test {client_ptr}=mail.example.test",
		"[127.0.0.2] _=unknown [127.0.0.2] {client_name}=unknown {client_ptr}=liar.example.test",
		"[TEMPUNAVAIL] _=unknown [127.0.0.3] {client_name}=unknown {client_ptr}=unknown",
		"[127.0.0.4] _=unknown [127.0.0.4] {client_name}=unknown {client_ptr}=unknown",
	}
	if !reflect.DeepEqual(connects, want) {
		t.Fatalf("connects\n%s\nwant\n%s", strings.Join(connects, "\n"), strings.Join(want, "\n"))
	}
}

func TestStartTLSKeepsFilterSession(t *testing.T) {
	f := &recFilter{macros: []string{"{tls_version}"}}
	opts := tlsOptions(t)
	opts.Filter = f
	opts.Trace = true
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("STARTTLS", "220 2.0.0 Ready to start TLS")
	c.startTLS()
	c.do("EHLO client.test", ehloTLSReply)
	c.do("AUTH PLAIN AGFubgBzZWNyZXQ=", "235 2.7.0 Authentication successful")
	c.do("QUIT", "221 2.0.0 Bye")
	want := []string{"open", "connect [127.0.0.1] 127.0.0.1:" + portOf(t, c), "helo client.test", "helo client.test {tls_version}=TLSv1.3", "close"}
	waitEvents(t, f, len(want))
	if got := f.log(); !reflect.DeepEqual(got, want) {
		t.Fatalf("filter saw %q, want %q", got, want)
	}
	logs := ts.logs.String()
	if strings.Contains(logs, "AGFubgBzZWNyZXQ") || !strings.Contains(logs, "AUTH PLAIN [redacted]") {
		t.Fatalf("AUTH not redacted in the trace:\n%s", logs)
	}
}
