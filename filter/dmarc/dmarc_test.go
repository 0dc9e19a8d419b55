package dmarc

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// testRecords is the DNS of the table tests.
var testRecords = testZone{
	txt: map[string][]string{
		"_dmarc.reject.example":  {"v=DMARC1; p=reject; rua=mailto:d@reject.example"},
		"_dmarc.quar.example":    {"v=DMARC1; p=quarantine"},
		"_dmarc.none.example":    {"v=DMARC1; p=none"},
		"_dmarc.org.example":     {"v=DMARC1; p=none; sp=reject"},
		"_dmarc.pct.example":     {"v=DMARC1; p=reject; pct=0"},
		"_dmarc.pctq.example":    {"v=DMARC1; p=quarantine; pct=0"},
		"_dmarc.strict.example":  {"v=DMARC1; p=reject; adkim=s; aspf=s"},
		"_dmarc.relaxed.example": {"v=DMARC1; p=reject"},
		"_dmarc.bad.example":     {"v=DMARC1; p=bogus"},
		"_dmarc.two.example":     {"v=DMARC1; p=reject", "v=DMARC1; p=none"},
		"_dmarc.mixed.example":   {"google-site-verification=x", "v=DMARC1;p=reject"},
	},
	servfail: []string{"_dmarc.broken.example"},
	silent:   []string{"_dmarc.slow.example"},
}

const ar = "Authentication-Results"

// run passes one message from 192.0.2.1 through a session of f: sender at
// MAIL, then the header fields ("Name: value"). It returns the end of
// message verdict and the edits as strings.
func run(t *testing.T, f *Filter, macros filter.MacroMap, sender string, fields ...string) (filter.Verdict, []string) {
	t.Helper()
	ctx := context.Background()
	s, err := f.NewSession(ctx, macros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if v := s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:4000")}); v != filter.Continue {
		t.Fatalf("connect: %v", v)
	}
	if v := s.Mail(ctx, envelope.Address{Addr: sender}); v != filter.Continue {
		return v, nil
	}
	for _, h := range fields {
		name, value, _ := strings.Cut(h, ": ")
		if v := s.Header(ctx, name, value); v != filter.Continue {
			t.Fatalf("header %s: %v", name, v)
		}
	}
	m := filter.NewModifier(f.Needs().Edits, nil)
	v := s.EndOfMessage(ctx, m)
	var edits []string
	for _, e := range m.Edits() {
		edits = append(edits, e.String())
	}
	return v, edits
}

// arField is the field the filter adds for mx.test.
func arField(v string) []string {
	return []string{"insheader 0 Authentication-Results: mx.test;\r\n\tdmarc=" + v}
}

func TestEvaluate(t *testing.T) {
	res := startDNS(t, testRecords)
	dkimPass := func(d string) string {
		return ar + ": mx.test; dkim=pass header.d=" + d + " header.s=s1 header.b=AbCdEfGh"
	}
	spf := func(result, sender string) string {
		return `Received-SPF: ` + result + ` (mx.test: domain of ` + sender + ` designates 192.0.2.1 as permitted sender)` +
			"\r\n\tclient-ip=192.0.2.1; envelope-from=\"" + sender + `"; helo=client.test; receiver=mx.test; identity=mailfrom`
	}
	tests := []struct {
		name     string
		opts     Options // AuthservID, Resolver, Timeout set by the test
		sender   string
		fields   []string
		verdict  string
		edits    []string
		sampleIn bool // pct sampling says the message is in
	}{
		{name: "no record", sender: "a@norecord.example", fields: []string{"From: a@norecord.example"},
			verdict: "continue", edits: arField("none header.from=norecord.example")},
		{name: "reject, tag only", sender: "a@x.example", fields: []string{"From: A <a@reject.example>"},
			verdict: "continue", edits: arField("fail (p=reject dis=none) header.from=reject.example")},
		{name: "reject, enforced", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@reject.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "dkim pass aligned", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{dkimPass("Reject.Example"), "From: a@reject.example"},
			verdict: "continue", edits: arField("pass (p=reject dis=none) header.from=reject.example")},
		{name: "dkim pass of another domain", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{dkimPass("other.example"), "From: a@reject.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "dkim pass claimed by another authserv-id", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{ar + ": evil.test; dkim=pass header.d=reject.example", "From: a@reject.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "dkim fail", sender: "a@x.example",
			fields:  []string{ar + ": mx.test; dkim=fail reason=\"bad; header.d=x\" header.d=reject.example", "From: a@reject.example"},
			verdict: "continue", edits: arField("fail (p=reject dis=none) header.from=reject.example")},
		{name: "auth results ignored", opts: Options{IgnoreAuthResults: true}, sender: "a@x.example",
			fields:  []string{dkimPass("reject.example"), "From: a@reject.example"},
			verdict: "continue", edits: arField("fail (p=reject dis=none) header.from=reject.example")},
		{name: "spf pass aligned", opts: Options{Enforce: true}, sender: "b@reject.example",
			fields:  []string{spf("pass", "b@reject.example"), "From: a@reject.example"},
			verdict: "continue", edits: arField("pass (p=reject dis=none) header.from=reject.example")},
		{name: "spf fail", opts: Options{Enforce: true}, sender: "b@reject.example",
			fields:  []string{spf("fail", "b@reject.example"), "From: a@reject.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "spf field of another sender", opts: Options{Enforce: true}, sender: "b@x.example",
			fields:  []string{spf("pass", "b@reject.example"), "From: a@reject.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "only the topmost spf field", opts: Options{Enforce: true}, sender: "b@reject.example",
			fields:  []string{spf("fail", "b@reject.example"), spf("pass", "b@reject.example"), "From: a@reject.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "spf ignored", opts: Options{IgnoreReceivedSPF: true}, sender: "b@reject.example",
			fields:  []string{spf("pass", "b@reject.example"), "From: a@reject.example"},
			verdict: "continue", edits: arField("fail (p=reject dis=none) header.from=reject.example")},
		{name: "spf helo identity", sender: "",
			fields: []string{"Received-SPF: pass client-ip=192.0.2.1; envelope-from=\"\"; helo=mx.reject.example; identity=helo",
				"From: a@reject.example"},
			verdict: "continue", edits: arField("pass (p=reject dis=none) header.from=reject.example")},
		{name: "quarantine enforced", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@quar.example"},
			verdict: "continue", edits: append(arField("fail (p=quarantine dis=quarantine) header.from=quar.example"),
				"quarantine DMARC policy of quar.example: quarantine")},
		{name: "quarantine tagged", sender: "a@x.example", fields: []string{"From: a@quar.example"},
			verdict: "continue", edits: arField("fail (p=quarantine dis=none) header.from=quar.example")},
		{name: "p=none enforced", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@none.example"},
			verdict: "continue", edits: arField("fail (p=none dis=none) header.from=none.example")},
		{name: "sp for a subdomain", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@mail.org.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of mail.org.example"},
		{name: "p for the organizational domain", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@org.example"},
			verdict: "continue", edits: arField("fail (p=none dis=none) header.from=org.example")},
		{name: "pct=0 reject becomes quarantine", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@pct.example"},
			verdict: "continue", edits: append(arField("fail (p=reject dis=quarantine) header.from=pct.example"),
				"quarantine DMARC policy of pct.example: quarantine")},
		{name: "pct=0 quarantine becomes none", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@pctq.example"},
			verdict: "continue", edits: arField("fail (p=quarantine dis=none) header.from=pctq.example")},
		{name: "pct sampled in", opts: Options{Enforce: true}, sampleIn: true, sender: "a@x.example", fields: []string{"From: a@pct.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of pct.example"},
		{name: "adkim=s subdomain signature", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{dkimPass("mail.strict.example"), "From: a@strict.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of strict.example"},
		{name: "adkim=s exact", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{dkimPass("strict.example"), "From: a@strict.example"},
			verdict: "continue", edits: arField("pass (p=reject dis=none) header.from=strict.example")},
		{name: "adkim=r subdomain From", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{dkimPass("relaxed.example"), "From: a@mail.relaxed.example"},
			verdict: "continue", edits: arField("pass (p=reject dis=none) header.from=mail.relaxed.example")},
		{name: "aspf=s subdomain sender", opts: Options{Enforce: true}, sender: "b@bounce.strict.example",
			fields:  []string{spf("pass", "b@bounce.strict.example"), "From: a@strict.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of strict.example"},
		{name: "aspf=r subdomain sender", opts: Options{Enforce: true}, sender: "b@bounce.relaxed.example",
			fields:  []string{spf("pass", "b@bounce.relaxed.example"), "From: a@relaxed.example"},
			verdict: "continue", edits: arField("pass (p=reject dis=none) header.from=relaxed.example")},
		{name: "dns failure accepted", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@broken.example"},
			verdict: "continue", edits: arField(`temperror reason="DMARC record lookup failed" header.from=broken.example`)},
		{name: "dns failure tempfail", opts: Options{Enforce: true, DNSError: "tempfail"}, sender: "a@x.example",
			fields:  []string{"From: a@broken.example"},
			verdict: "tempfail 451 4.4.3 DMARC evaluation failed for broken.example, try again later"},
		{name: "dns timeout", sender: "a@x.example", fields: []string{"From: a@slow.example"},
			verdict: "continue", edits: arField(`temperror reason="DMARC record lookup failed" header.from=slow.example`)},
		{name: "aligned dkim temperror", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{ar + ": mx.test; dkim=temperror reason=\"key lookup\" header.d=reject.example", "From: a@reject.example"},
			verdict: "continue", edits: arField("temperror header.from=reject.example")},
		{name: "malformed record", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@bad.example"},
			verdict: "continue", edits: arField(`permerror reason="malformed DMARC record" header.from=bad.example`)},
		{name: "two records", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@two.example"},
			verdict: "continue", edits: arField("none header.from=two.example")},
		{name: "record among other TXT", opts: Options{Enforce: true}, sender: "a@x.example", fields: []string{"From: a@mixed.example"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of mixed.example"},
		{name: "no From", sender: "a@x.example", fields: []string{"Subject: x"},
			verdict: "continue", edits: arField(`permerror reason="no From field"`)},
		{name: "two From fields", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{"From: a@reject.example", "From: b@reject.example"},
			verdict: "continue", edits: arField(`permerror reason="several From fields"`)},
		{name: "two addresses", sender: "a@x.example", fields: []string{"From: a@reject.example, b@none.example"},
			verdict: "continue", edits: arField(`permerror reason="From field without exactly one address"`)},
		{name: "folded From with encoded name", opts: Options{Enforce: true}, sender: "a@x.example",
			fields:  []string{"From: =?x-unknown?q?J=F6rg?=\r\n <joerg@REJECT.example>"},
			verdict: "reject 550 5.7.1 Rejected by the DMARC policy of reject.example"},
		{name: "address literal", sender: "a@x.example", fields: []string{"From: a@[192.0.2.1]"},
			verdict: "continue", edits: arField(`permerror reason="From address domain is no domain name"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.AuthservID, o.Resolver, o.Timeout = "mx.test", res, 500*time.Millisecond
			f, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			f.sampleBelow = func(int) bool { return tt.sampleIn }
			v, edits := run(t, f, filter.MacroMap{}, tt.sender, tt.fields...)
			if v.String() != tt.verdict {
				t.Errorf("verdict %q, want %q", v, tt.verdict)
			}
			if strings.Join(edits, "\n") != strings.Join(tt.edits, "\n") {
				t.Errorf("edits\n%q\nwant\n%q", edits, tt.edits)
			}
		})
	}
}

// TestSkipped: trusted clients are accepted at connect, authenticated
// ones at MAIL, so they are never evaluated.
func TestSkipped(t *testing.T) {
	f, err := New(Options{AuthservID: "mx.test", Resolver: startDNS(t, testRecords)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []envelope.Conn{
		{ClientAddr: netip.MustParseAddrPort("127.0.0.1:25")},
		{ClientAddr: netip.MustParseAddrPort("[::ffff:127.0.0.2]:25")},
		{ClientAddr: netip.MustParseAddrPort("192.0.2.1:25"), AuthLogin: "alice"},
		{},
	} {
		s, _ := f.NewSession(ctx, filter.NoMacros)
		if v := s.Connect(ctx, &c); v != filter.Accept {
			t.Errorf("connect %v: %v, want accept", c.ClientAddr, v)
		}
	}
	if _, edits := run(t, f, filter.MacroMap{"auth_authen": "alice"}, "a@x.example", "From: a@reject.example"); edits != nil {
		t.Errorf("authenticated: edits %q", edits)
	}
	f2, _ := New(Options{AuthservID: "mx.test", Resolver: startDNS(t, testRecords), SkipNetworks: []netip.Prefix{}})
	s, _ := f2.NewSession(ctx, filter.NoMacros)
	if v := s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("127.0.0.1:25")}); v != filter.Continue {
		t.Errorf("loopback with skip_networks = []: %v", v)
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{}, "filter/dmarc: authserv_id: empty (set it to the DKIM verifier's, usually the host name)"},
		{Options{AuthservID: "mx test"}, `filter/dmarc: authserv_id: "mx test": want a host name or another token without spaces or ()<>@,;:\"/[]?=`},
		{Options{AuthservID: "mx", DNSError: "reject"}, `filter/dmarc: on_dns_error: unknown action "reject" (want accept or tempfail)`},
		{Options{AuthservID: "mx", Timeout: -time.Second}, "filter/dmarc: timeout: must be > 0, got -1s"},
		{Options{AuthservID: "mx", SkipNetworks: []netip.Prefix{{}}}, "filter/dmarc: skip_networks: [0]: not a valid network"},
		{Options{AuthservID: "mx", DNSError: "TempFail", Timeout: time.Second}, ""},
	} {
		_, err := New(tt.opts)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("New(%+v) = %q, want %q", tt.opts, got, tt.want)
		}
	}
}

func TestNeeds(t *testing.T) {
	for _, enforce := range []bool{false, true} {
		f, err := New(Options{AuthservID: "mx", Enforce: enforce})
		if err != nil {
			t.Fatal(err)
		}
		n := f.Needs()
		want := "{helo,rcpt,data,eoh,body,unknown}"
		if n.Skip.String() != want || n.NoReply.String() != "{header}" {
			t.Errorf("skip %v noreply %v", n.Skip, n.NoReply)
		}
		edits := filter.EditAddHeader | filter.EditInsertHeader
		if enforce {
			edits |= filter.EditQuarantine
		}
		if n.Edits != edits || n.Macros == nil || n.HeaderLeadingSpace {
			t.Errorf("enforce=%v: needs %+v", enforce, n)
		}
	}
}
