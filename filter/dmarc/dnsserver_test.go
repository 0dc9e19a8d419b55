package dmarc

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// testZone is what the test DNS server answers: TXT records by
// lower-case name without the final dot (each string one record), names
// that get SERVFAIL, names never answered. Other names are NXDOMAIN.
type testZone struct {
	txt      map[string][]string
	servfail []string
	silent   []string
}

// startDNS serves z on a loopback UDP port with miekg/dns until the test
// ends, and returns a resolver that asks only it.
func startDNS(t testing.TB, z testZone) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	has := func(list []string, name string) bool {
		for _, n := range list {
			if n == name {
				return true
			}
		}
		return false
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if len(req.Question) != 1 {
			return
		}
		q := req.Question[0]
		name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
		if has(z.silent, name) {
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		recs, ok := z.txt[name]
		switch {
		case has(z.servfail, name):
			m.Rcode = dns.RcodeServerFailure
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			for _, r := range recs {
				m.Answer = append(m.Answer, &dns.TXT{Txt: []string{r},
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
