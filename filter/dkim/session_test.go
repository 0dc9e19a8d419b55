package dkim

import (
	"context"
	"crypto"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/filter"
)

const trustedClient, otherClient = "127.0.0.1:40000", "192.0.2.1:40000"

// newTest returns a filter verifying and signing for example.com with
// key under selector "sel", resolving through r.
func newTest(t *testing.T, key crypto.Signer, r Resolver, mod func(*Options)) *Filter {
	t.Helper()
	o := Options{
		Hostname: "mx.example.org", Resolver: r, Timeout: testTimeout, Logger: slog.New(slog.DiscardHandler),
		Keys: []Key{{Domain: "Example.COM", Selector: "sel", Signer: key}},
	}
	if mod != nil {
		mod(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// msgauthVerify verifies msg with go-msgauth alone, returning its
// verifications.
func msgauthVerify(t *testing.T, msg string, r *net.Resolver) []*dkim.Verification {
	t.Helper()
	v, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSignVerifyRoundTrip: a message from a trusted client is signed
// with RSA and with Ed25519, in memory and spilled to a file; go-msgauth
// and the filter itself verify the result, and the signature covers
// what it should.
func TestSignVerifyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		algo   string
		memory int
	}{
		{"rsa", testRSA(), "rsa-sha256", 0},
		{"ed25519", testEd(), "ed25519-sha256", 0},
		{"rsa_spilled", testRSA(), "rsa-sha256", 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startDNS(t, map[string]string{"sel._domainkey.example.com": keyRecord(t, tc.key)}, dnsAnswer)
			f := newTest(t, tc.key, r, func(o *Options) { o.MemoryBytes = tc.memory })
			o := run(t, f, trustedClient, nil, testMsg, 7)
			if o.verdict != filter.Continue || len(o.edits) != 1 {
				t.Fatalf("verdict %v edits %v", o.verdict, o.edits)
			}
			e := o.edits[0]
			if e.Kind != filter.InsertHeader || e.Index != 0 || e.Name != "DKIM-Signature" || !strings.HasPrefix(e.Value, " ") {
				t.Fatalf("edit %+v", e)
			}
			tags := parseTags(e.Value)
			want := map[string]string{"a": tc.algo, "c": "relaxed/relaxed", "d": "example.com", "s": "sel",
				"h": "From:From:Subject:Date:To:Message-ID", "v": "1"}
			for k, v := range want {
				if tags[k] != v {
					t.Errorf("tag %s=%q, want %q", k, tags[k], v)
				}
			}
			verifs := msgauthVerify(t, o.result, r)
			if len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "example.com" {
				t.Fatalf("go-msgauth: %+v", verifs[0])
			}
			// The filter itself, for a message arriving from elsewhere.
			v := run(t, f, otherClient, nil, o.result, 1000)
			wantAR := " mx.example.org;\r\n\tdkim=pass header.d=example.com header.s=sel header.b=" + value(tags["b"][:8])
			if len(v.edits) != 1 || v.edits[0].Name != authResults || v.edits[0].Value != wantAR || v.edits[0].Index != 0 {
				t.Fatalf("edits %v, want Authentication-Results:%s", v.edits, wantAR)
			}
		})
	}
}

// TestVerifyResults: the Authentication-Results of each outcome, and the
// verdicts of RejectOnFail and TempFailDNS.
func TestVerifyResults(t *testing.T) {
	key := testEd()
	signed := run(t, newTest(t, key, nil, nil), trustedClient, nil, testMsg, 100).result
	b := value(parseTags(strings.SplitN(signed, "DKIM-Signature:", 2)[1])["b"][:8])
	tampered := strings.Replace(signed, "bye\r\n", "bye!\r\n", 1)
	good := map[string]string{"sel._domainkey.example.com": keyRecord(t, key)}
	revoked := map[string]string{"sel._domainkey.example.com": "v=DKIM1; k=ed25519; p="}
	reject550 := filter.CustomReply(550, "5.7.20", "No passing DKIM signature found")
	temp451 := filter.CustomReply(451, "4.4.3", "DKIM key lookup failed, try again later")
	for _, tc := range []struct {
		name    string
		msg     string
		records map[string]string
		mode    dnsMode
		mod     func(*Options)
		want    string // the A-R value after "mx.example.org;\r\n\t"
		verdict filter.Verdict
	}{
		{"pass", signed, good, dnsAnswer, nil, "dkim=pass header.d=example.com header.s=sel header.b=" + b, filter.Continue},
		{"none", testMsg, good, dnsAnswer, nil, "dkim=none", filter.Continue},
		{"none_reject", testMsg, good, dnsAnswer, rejectOnFail, "dkim=none", filter.Continue},
		{"tampered", tampered, good, dnsAnswer, nil,
			`dkim=fail reason="dkim: body hash did not verify" header.d=example.com header.s=sel header.b=` + b, filter.Continue},
		{"tampered_reject", tampered, good, dnsAnswer, rejectOnFail,
			`dkim=fail reason="dkim: body hash did not verify" header.d=example.com header.s=sel header.b=` + b, reject550},
		{"no_key", signed, map[string]string{}, dnsAnswer, nil,
			`dkim=permerror reason="dkim: no key for signature: sel._domainkey.example.com: no such record" header.d=example.com header.s=sel header.b=` + b, filter.Continue},
		{"revoked", signed, revoked, dnsAnswer, rejectOnFail,
			`dkim=permerror reason="dkim: key revoked" header.d=example.com header.s=sel header.b=` + b, reject550},
		{"timeout", signed, good, dnsSilent, rejectOnFail,
			`dkim=temperror reason="dkim: key unavailable: sel._domainkey.example.com: timeout" header.d=example.com header.s=sel header.b=` + b, filter.Continue},
		{"timeout_tempfail", signed, good, dnsSilent, func(o *Options) { o.TempFailDNS = true },
			`dkim=temperror reason="dkim: key unavailable: sel._domainkey.example.com: timeout" header.d=example.com header.s=sel header.b=` + b, temp451},
		{"servfail", signed, good, dnsServFail, nil,
			`dkim=temperror reason="dkim: key unavailable: sel._domainkey.example.com: server misbehaving" header.d=example.com header.s=sel header.b=` + b, filter.Continue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startDNS(t, tc.records, tc.mode)
			f := newTest(t, key, r, tc.mod)
			o := run(t, f, otherClient, nil, tc.msg, 5)
			if o.verdict.String() != tc.verdict.String() {
				t.Errorf("verdict %v, want %v", o.verdict, tc.verdict)
			}
			if len(o.edits) != 1 {
				t.Fatalf("edits %v", o.edits)
			}
			got := o.edits[0].Value
			if want := " mx.example.org;\r\n\t" + tc.want; got != want {
				t.Errorf("Authentication-Results:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func rejectOnFail(o *Options) { o.RejectOnFail = true }

// TestTwoSignatures: two keys for the domain sign twice; both verify,
// and the results come in order.
func TestTwoSignatures(t *testing.T) {
	r := startDNS(t, map[string]string{
		"sel._domainkey.example.com": keyRecord(t, testRSA()),
		"ed._domainkey.example.com":  keyRecord(t, testEd()),
	}, dnsAnswer)
	f := newTest(t, testRSA(), r, func(o *Options) {
		o.Keys = append(o.Keys, Key{Domain: "example.com", Selector: "ed", Signer: testEd()})
	})
	o := run(t, f, trustedClient, nil, testMsg, 64)
	if len(o.edits) != 2 {
		t.Fatalf("edits %v", o.edits)
	}
	for _, v := range msgauthVerify(t, o.result, r) {
		if v.Err != nil {
			t.Errorf("go-msgauth: %v", v.Err)
		}
	}
	v := run(t, f, otherClient, nil, o.result, 64)
	ar := v.edits[0].Value
	if strings.Count(ar, "dkim=pass") != 2 || !strings.Contains(ar, "header.s=ed") || !strings.Contains(ar, "header.s=sel") {
		t.Errorf("Authentication-Results:%s", ar)
	}
}

// TestWhoIsSigned: only trusted or authenticated clients, with one From
// in a key's domain, get a signature; the others are verified.
func TestWhoIsSigned(t *testing.T) {
	r := startDNS(t, nil, dnsAnswer)
	auth := filter.MacroMap{"auth_authen": "alice"}
	other := strings.Replace(testMsg, "alice@example.com", "alice@sub.example.com", 1)
	twoFrom := "From: x@example.com\r\n" + testMsg
	for _, tc := range []struct {
		name   string
		client string
		macros filter.MacroMap
		msg    string
		mod    func(*Options)
		want   string // the edit's field name
	}{
		{"loopback", trustedClient, nil, testMsg, nil, "DKIM-Signature"},
		{"ipv6_loopback", "[::1]:25", nil, testMsg, nil, "DKIM-Signature"},
		{"outsider", otherClient, nil, testMsg, nil, authResults},
		{"authenticated", otherClient, auth, testMsg, nil, "DKIM-Signature"},
		{"authenticated_off", otherClient, auth, testMsg, func(o *Options) { o.NoSignAuthenticated = true }, authResults},
		{"no_networks", trustedClient, nil, testMsg, func(o *Options) { o.SignNetworks = []netip.Prefix{} }, authResults},
		{"subdomain", trustedClient, nil, other, nil, authResults},
		{"two_from", trustedClient, nil, twoFrom, nil, authResults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, newTest(t, testEd(), r, tc.mod), tc.client, tc.macros, tc.msg, 100)
			if len(o.edits) != 1 || o.edits[0].Name != tc.want {
				t.Errorf("edits %v, want one %s", o.edits, tc.want)
			}
		})
	}
}
