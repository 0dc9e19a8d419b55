package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

func testZoneData() testZone {
	return testZone{
		txt: map[string][]string{
			"pass.test":                {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"},
			"fail.test":                {"v=spf1 -all"},
			"soft.test":                {"v=spf1 ~all"},
			"neutral.test":             {"v=spf1 ?all"},
			"perm.test":                {"v=spf1 frobnicate:x -all"},
			"two.test":                 {"v=spf1 -all", "v=spf1 +all"},
			"incl.test":                {"v=spf1 include:servfail.test -all"},
			"slowincl.test":            {"v=spf1 include:slow.test -all"},
			"a.test":                   {"v=spf1 a -all"},
			"mx.test":                  {"v=spf1 mx -all"},
			"helo.test":                {"v=spf1 ip4:192.0.2.1 -all"},
			"macro.test":               {"v=spf1 exists:%{l}.ok.macro.test -all"},
			"xn--bcher-kva.test":       {"v=spf1 ip4:192.0.2.0/24 -all"},
			"other.test":               {"google-site-verification=x"},
			"long.test":                {"v=spf1 ip4:192.0.2.0/24 " + strings.Repeat("ip4:198.51.100.1 ", 20) + "-all"},
			"ok.macro.test":            {"x"},
			"alice.ok.macro.test":      {"x"},
			"postmaster.ok.macro.test": {"x"},
		},
		addrs: map[string][]string{
			"a.test":              {"192.0.2.10"},
			"mail.mx.test":        {"192.0.2.20", "2001:db8::20"},
			"none.test":           {"192.0.2.30"},
			"alice.ok.macro.test": {"127.0.0.2"},
		},
		mx:       map[string][]string{"mx.test": {"mail.mx.test"}},
		servfail: map[string]bool{"servfail.test": true},
		drop:     map[string]bool{"slow.test": true},
	}
}

// run drives one connection through connect, HELO, MAIL and end of
// message and returns the MAIL verdict and the edits.
type run struct {
	client string // "ip:port"; "" for a unix socket
	helo   string
	from   string
	login  string // {auth_authen} at MAIL
	host   string // Conn.Hostname
}

func (r run) do(t *testing.T, f *Filter) (filter.Verdict, []filter.Edit) {
	t.Helper()
	ctx := context.Background()
	macros := filter.MacroMap{}
	s, err := f.NewSession(ctx, macros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	c := &envelope.Conn{Hostname: r.host}
	if r.client != "" {
		c.ClientAddr = netip.MustParseAddrPort(r.client)
	}
	if v := s.Connect(ctx, c); v != filter.Continue {
		t.Fatalf("connect: %v", v)
	}
	if v := s.Helo(ctx, r.helo); v != filter.Continue {
		t.Fatalf("helo: %v", v)
	}
	if r.login != "" {
		macros.Set("{auth_authen}", r.login)
	}
	v := s.Mail(ctx, envelope.Address{Addr: r.from})
	if v.Terminal() {
		return v, nil
	}
	m := filter.NewModifier(f.Needs().Edits, nil)
	if v := s.EndOfMessage(ctx, m); v != filter.Continue {
		t.Fatalf("eom: %v", v)
	}
	return v, m.Edits()
}

// TestResults: each result, under each action, gives the exact reply or
// the exact header.
func TestResults(t *testing.T) {
	_, res := startDNS(t, testZoneData())
	tests := []struct {
		name   string
		opts   Options
		run    run
		reply  string // the MAIL verdict
		header string // Received-SPF's value; "" for no edit
	}{
		{"pass", Options{}, run{client: "192.0.2.1:1234", helo: "mx.pass.test", from: "alice@pass.test", host: "mx.example.org"},
			"continue",
			"pass (mx.example.org: domain of alice@pass.test designates\r\n\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n\tenvelope-from=\"alice@pass.test\"; helo=mx.pass.test;\r\n\treceiver=mx.example.org; identity=mailfrom"},
		{"pass ipv6", Options{}, run{client: "[2001:db8::5]:25", helo: "h.test", from: "bob@PASS.test"},
			"continue",
			"pass (domain of bob@PASS.test designates 2001:db8::5 as\r\n\tpermitted sender) client-ip=2001:db8::5;\r\n\tenvelope-from=\"bob@PASS.test\"; helo=h.test; identity=mailfrom"},
		{"pass mapped ipv4", Options{}, run{client: "[::ffff:192.0.2.9]:25", helo: "h.test", from: "c@pass.test"}, "continue", "pass (domain"},
		{"fail rejects", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "alice@fail.test"},
			"reject 550 5.7.23 SPF validation failed: fail.test does not designate 192.0.2.1 as a permitted sender", ""},
		{"fail outside the network", Options{}, run{client: "198.51.100.1:25", helo: "h.test", from: "alice@pass.test"},
			"reject 550 5.7.23 SPF validation failed: pass.test does not designate 198.51.100.1 as a permitted sender", ""},
		{"fail tagged", Options{FailAction: "tag"}, run{client: "192.0.2.1:25", helo: "h.test", from: "alice@fail.test"},
			"continue",
			"fail (domain of alice@fail.test does not designate 192.0.2.1 as\r\n\tpermitted sender) client-ip=192.0.2.1;\r\n\tenvelope-from=\"alice@fail.test\"; helo=h.test; identity=mailfrom"},
		{"softfail tagged", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@soft.test"}, "continue",
			"softfail (domain of transitioning a@soft.test does not designate\r\n\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n\tenvelope-from=\"a@soft.test\"; helo=h.test; identity=mailfrom"},
		{"softfail tempfails", Options{SoftFailAction: "TempFail"}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@soft.test"},
			"tempfail 451 4.7.23 SPF validation soft-failed: soft.test does not designate 192.0.2.1 as a permitted sender, try again later", ""},
		{"neutral", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@neutral.test"}, "continue",
			"neutral (192.0.2.1 is neither permitted nor denied by domain of\r\n\ta@neutral.test) client-ip=192.0.2.1; envelope-from=\"a@neutral.test\";\r\n\thelo=h.test; identity=mailfrom"},
		{"none without a record", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@none.test"}, "continue",
			"none (domain of a@none.test has no SPF record)\r\n\tclient-ip=192.0.2.1; envelope-from=\"a@none.test\"; helo=h.test;\r\n\tidentity=mailfrom"},
		{"none for NXDOMAIN", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@nx.test"}, "continue", "none (domain of a@nx.test has no SPF record)"},
		{"none for another TXT", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@other.test"}, "continue", "none (domain of a@other.test has"},
		{"none for a bare word", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "root@localhost"}, "continue",
			"none (localhost is no domain to check) client-ip=192.0.2.1;\r\n\tenvelope-from=\"root@localhost\"; helo=h.test; identity=mailfrom"},
		{"none for an address literal", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@[192.0.2.1]"}, "continue", "none ([192.0.2.1] is no domain"},
		{"none for a numeric top label", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@192.0.2.1"}, "continue", "none (192.0.2.1 is no domain"},
		{"none for a long label", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@" + strings.Repeat("x", 64) + ".test"}, "continue", "none\r\n\t(xxxx"},
		{"temperror tempfails", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@servfail.test"},
			"tempfail 451 4.7.24 SPF validation error: temporary DNS failure for servfail.test, try again later", ""},
		{"temperror in an include", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@incl.test"},
			"tempfail 451 4.7.24 SPF validation error: temporary DNS failure for incl.test, try again later", ""},
		{"temperror accepted", Options{TempErrorAction: "accept"}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@servfail.test"}, "continue",
			"temperror (temporary error in processing during lookup of\r\n\ta@servfail.test) client-ip=192.0.2.1; envelope-from=\"a@servfail.test\";\r\n\thelo=h.test; identity=mailfrom"},
		{"permerror accepted", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@perm.test"}, "continue",
			"permerror (permanent error in processing domain of a@perm.test)\r\n\tclient-ip=192.0.2.1; envelope-from=\"a@perm.test\"; helo=h.test;\r\n\tidentity=mailfrom"},
		{"permerror rejected", Options{PermErrorAction: "reject"}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@perm.test"},
			"reject 550 5.7.24 SPF validation error: the SPF record of perm.test is not valid", ""},
		{"two records", Options{PermErrorAction: "reject"}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@two.test"},
			"reject 550 5.7.24 SPF validation error: the SPF record of two.test is not valid", ""},
		{"a mechanism", Options{}, run{client: "192.0.2.10:25", helo: "h.test", from: "a@a.test"}, "continue", "pass (domain of a@a.test designates 192.0.2.10"},
		{"mx mechanism", Options{}, run{client: "[2001:db8::20]:25", helo: "h.test", from: "a@mx.test"}, "continue", "pass (domain of a@mx.test designates 2001:db8::20"},
		{"macro with the local-part", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "alice@macro.test"}, "continue", "pass ("},
		{"macro with postmaster", Options{}, run{client: "192.0.2.1:25", helo: "helo.test", from: ""}, "continue", "pass ("},
		{"long record", Options{}, run{client: "192.0.2.7:25", helo: "h.test", from: "a@long.test"}, "continue", "pass ("},
		{"internationalized domain", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@Bücher.test"}, "continue",
			"pass (domain of a@Bücher.test designates 192.0.2.1 as permitted\r\n\tsender) client-ip=192.0.2.1; envelope-from=\"a@Bücher.test\";\r\n\thelo=h.test; identity=mailfrom"},
		{"null sender checks HELO", Options{}, run{client: "192.0.2.1:25", helo: "helo.test", from: ""}, "continue",
			"pass (domain of postmaster@helo.test designates 192.0.2.1 as\r\n\tpermitted sender) client-ip=192.0.2.1; envelope-from=\"\";\r\n\thelo=helo.test; identity=helo"},
		{"null sender HELO fails", Options{}, run{client: "192.0.2.2:25", helo: "helo.test", from: ""},
			"reject 550 5.7.23 SPF validation failed: helo.test does not designate 192.0.2.2 as a permitted sender", ""},
		{"null sender, address literal HELO", Options{}, run{client: "192.0.2.2:25", helo: "[192.0.2.2]", from: ""}, "continue",
			"none ([192.0.2.2] is no domain to check) client-ip=192.0.2.2;\r\n\tenvelope-from=\"\"; helo=\"[192.0.2.2]\"; identity=helo"},
		{"receiver option", Options{Receiver: "spf.example.org"}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@pass.test", host: "mx.example.org"}, "continue",
			"pass (spf.example.org: domain of a@pass.test designates\r\n\t192.0.2.1 as"},
		{"no header", Options{NoHeader: true}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@pass.test"}, "continue", ""},
		{"no header, tagged fail", Options{NoHeader: true, FailAction: "tag"}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@fail.test"}, "continue", ""},
		{"loopback skipped", Options{}, run{client: "127.0.0.1:25", helo: "h.test", from: "a@fail.test"}, "continue", ""},
		{"ipv6 loopback skipped", Options{}, run{client: "[::1]:25", helo: "h.test", from: "a@fail.test"}, "continue", ""},
		{"trusted network skipped", Options{SkipNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")}},
			run{client: "192.0.2.5:25", helo: "h.test", from: "a@fail.test"}, "continue", ""},
		{"mapped trusted network", Options{SkipNetworks: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/124")}},
			run{client: "192.0.2.5:25", helo: "h.test", from: "a@fail.test"}, "continue", ""},
		{"loopback checked when no network is skipped", Options{SkipNetworks: []netip.Prefix{}},
			run{client: "127.0.0.1:25", helo: "h.test", from: "a@fail.test"},
			"reject 550 5.7.23 SPF validation failed: fail.test does not designate 127.0.0.1 as a permitted sender", ""},
		{"authenticated skipped", Options{}, run{client: "192.0.2.1:25", helo: "h.test", from: "a@fail.test", login: "alice"}, "continue", ""},
		{"unix socket skipped", Options{}, run{helo: "h.test", from: "a@fail.test"}, "continue", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Resolver = res
			f, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			v, edits := tt.run.do(t, f)
			if got := v.String(); got != tt.reply {
				t.Errorf("MAIL verdict\n%s\nwant\n%s", got, tt.reply)
			}
			checkHeader(t, edits, tt.header)
		})
	}
}

// checkHeader checks that edits insert exactly one Received-SPF field at
// the top whose value starts with want (or none when want is "").
// Expected values that end before the identity key are prefixes.
func checkHeader(t *testing.T, edits []filter.Edit, want string) {
	t.Helper()
	if want == "" {
		if len(edits) != 0 {
			t.Errorf("edits %v, want none", edits)
		}
		return
	}
	if len(edits) != 1 || edits[0].Kind != filter.InsertHeader || edits[0].Index != 0 || edits[0].Name != "Received-SPF" {
		t.Fatalf("edits %v, want one Received-SPF inserted at 0", edits)
	}
	got := edits[0].Value
	full := strings.Contains(want, "identity=")
	if full && got != want || !full && !strings.HasPrefix(got, want) {
		t.Errorf("Received-SPF\n%q\nwant\n%q", got, want)
	}
}

// TestSkipMakesNoLookup: skipped clients cost no DNS query.
func TestSkipMakesNoLookup(t *testing.T) {
	srv, res := startDNS(t, testZoneData())
	f, err := New(Options{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []run{
		{client: "127.0.0.1:25", from: "a@fail.test"},
		{client: "192.0.2.1:25", from: "a@fail.test", login: "bob"},
		{from: "a@fail.test"},
	} {
		r.do(t, f)
	}
	if n := srv.queries.Load(); n != 0 {
		t.Errorf("%d DNS queries for skipped clients, want 0", n)
	}
	run{client: "192.0.2.1:25", from: "a@fail.test"}.do(t, f)
	if n := srv.queries.Load(); n == 0 {
		t.Error("no DNS query for a checked client")
	}
}

// TestAuthLoginAtConnect: a login known at connect (XCLIENT LOGIN)
// skips the check.
func TestAuthLoginAtConnect(t *testing.T) {
	_, res := startDNS(t, testZoneData())
	f, _ := New(Options{Resolver: res})
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:25"), AuthLogin: "alice"})
	if v := s.Mail(ctx, envelope.Address{Addr: "a@fail.test"}); v != filter.Continue {
		t.Errorf("mail: %v, want continue", v)
	}
}

// TestTransactions: each message gets its own check and header; an
// aborted message leaves no header for the next; a second HELO is used.
func TestTransactions(t *testing.T) {
	_, res := startDNS(t, testZoneData())
	f, _ := New(Options{Resolver: res, FailAction: "tag"})
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:25")})
	s.Helo(ctx, "first.test")
	s.Mail(ctx, envelope.Address{Addr: "a@fail.test"})
	s.Abort(ctx)
	m := filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	if len(m.Edits()) != 0 {
		t.Errorf("edits after abort: %v", m.Edits())
	}
	s.Helo(ctx, "helo.test")
	s.Mail(ctx, envelope.Address{})
	m = filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	checkHeader(t, m.Edits(), "pass (domain of postmaster@helo.test")
	m = filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	if len(m.Edits()) != 0 {
		t.Errorf("a second end of message added %v", m.Edits())
	}
}

// TestTimeout: a server that never answers gives temperror within the
// time limit, at the top level and inside an include.
func TestTimeout(t *testing.T) {
	_, res := startDNS(t, testZoneData())
	for _, from := range []string{"a@slow.test", "a@slowincl.test"} {
		f, _ := New(Options{Resolver: res, Timeout: 300 * time.Millisecond})
		start := time.Now()
		v, _ := run{client: "192.0.2.1:25", helo: "h.test", from: from}.do(t, f)
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: took %s with a 300ms timeout", from, el)
		}
		if v.Reply == nil || v.Reply.Code != 451 || v.Reply.Enhanced != "4.7.24" {
			t.Errorf("%s: verdict %v, want 451 4.7.24", from, v)
		}
	}
}

// stuckResolver ignores its context and answers only when released.
type stuckResolver struct{ release chan struct{} }

func (r stuckResolver) LookupTXT(context.Context, string) ([]string, error) {
	<-r.release
	return nil, errors.New("released")
}
func (r stuckResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, nil }
func (r stuckResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, nil
}
func (r stuckResolver) LookupAddr(context.Context, string) ([]string, error) { return nil, nil }

// TestStuckResolver: a resolver that ignores its context cannot hold the
// session past the timeout.
func TestStuckResolver(t *testing.T) {
	r := stuckResolver{release: make(chan struct{})}
	defer close(r.release)
	f, _ := New(Options{Resolver: r, Timeout: 100 * time.Millisecond, TempErrorAction: "accept"})
	start := time.Now()
	_, edits := run{client: "192.0.2.1:25", helo: "h.test", from: "a@pass.test"}.do(t, f)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %s with a 100ms timeout", el)
	}
	checkHeader(t, edits, "temperror (")
}

// errResolver fails every lookup with a plain error.
type errResolver struct{ stuckResolver }

func (errResolver) LookupTXT(context.Context, string) ([]string, error) {
	return nil, errors.New("connection refused")
}

// TestResolverErrorIsTemporary: an error that is no *net.DNSError is a
// temporary failure, not a permanent one.
func TestResolverErrorIsTemporary(t *testing.T) {
	f, _ := New(Options{Resolver: errResolver{}})
	v, _ := run{client: "192.0.2.1:25", helo: "h.test", from: "a@pass.test"}.do(t, f)
	if want := "tempfail 451 4.7.24 SPF validation error: temporary DNS failure for pass.test, try again later"; v.String() != want {
		t.Errorf("verdict %v, want %s", v, want)
	}
}
