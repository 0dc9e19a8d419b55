package spf

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// testZone is what the loopback DNS server answers. Names are lower case,
// without the final dot. A name in none of the maps is NXDOMAIN.
type testZone struct {
	txt      map[string][]string
	addrs    map[string][]string // A and AAAA, by address text
	mx       map[string][]string
	servfail map[string]bool
	drop     map[string]bool // never answered
}

// dnsServer is a DNS server on loopback UDP serving a testZone.
type dnsServer struct {
	addr    string
	queries atomic.Int64
	zone    testZone
}

// startDNS starts the server and returns it with a resolver that asks it
// only.
func startDNS(t *testing.T, z testZone) (*dnsServer, *net.Resolver) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: pc.LocalAddr().String(), zone: z}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
	return s, r
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	z := s.zone
	switch {
	case z.drop[name]:
		return
	case z.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case z.txt[name] == nil && z.addrs[name] == nil && z.mx[name] == nil:
		m.Rcode = dns.RcodeNameError
	default:
		m.Answer = answers(q, z)
	}
	_ = w.WriteMsg(m)
}

// answers builds the records of q's type for its name.
func answers(q dns.Question, z testZone) []dns.RR {
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 60}
	var out []dns.RR
	switch q.Qtype {
	case dns.TypeTXT:
		for _, t := range z.txt[name] {
			out = append(out, &dns.TXT{Hdr: hdr, Txt: splitTXT(t)})
		}
	case dns.TypeMX:
		for i, h := range z.mx[name] {
			out = append(out, &dns.MX{Hdr: hdr, Preference: uint16(10 * (i + 1)), Mx: dns.Fqdn(h)})
		}
	case dns.TypeA, dns.TypeAAAA:
		for _, a := range z.addrs[name] {
			ip := net.ParseIP(a)
			switch {
			case q.Qtype == dns.TypeA && ip.To4() != nil:
				out = append(out, &dns.A{Hdr: hdr, A: ip.To4()})
			case q.Qtype == dns.TypeAAAA && ip.To4() == nil:
				out = append(out, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
	}
	return out
}

// splitTXT cuts a record into character-strings of at most 255 octets.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
