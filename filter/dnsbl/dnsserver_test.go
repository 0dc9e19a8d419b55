package dnsbl

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// testDNS is a real DNS server on loopback (UDP) serving the blocklist
// data of a test: names with A records, names that fail with SERVFAIL,
// names it never answers. Every other name is NXDOMAIN.
type testDNS struct {
	Addr string

	a        map[string][]string // lower-case FQDN -> A records
	servfail map[string]bool
	silent   map[string]bool

	mu      sync.Mutex
	queries []string
}

// startDNS serves until the test ends. a, servfail and silent may be nil.
func startDNS(t testing.TB, a map[string][]string, servfail, silent []string) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{Addr: pc.LocalAddr().String(), a: map[string][]string{}, servfail: map[string]bool{}, silent: map[string]bool{}}
	for k, v := range a {
		d.a[dns.Fqdn(strings.ToLower(k))] = v
	}
	for _, k := range servfail {
		d.servfail[dns.Fqdn(k)] = true
	}
	for _, k := range silent {
		d.silent[dns.Fqdn(k)] = true
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	d.mu.Lock()
	d.queries = append(d.queries, name)
	d.mu.Unlock()
	if d.silent[name] {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	switch {
	case d.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case d.a[name] == nil:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA:
		for _, ip := range d.a[name] {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP(ip).To4(),
			})
		}
	}
	_ = w.WriteMsg(m)
}

// asked returns the names queried so far, each once, in order.
func (d *testDNS) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, q := range d.queries {
		if !seen[q] {
			seen[q] = true
			out = append(out, q)
		}
	}
	return out
}
