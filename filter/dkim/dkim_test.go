package dkim

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

func writePEM(t *testing.T, typ string, der []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKeyFiles: PKCS #1 and PKCS #8 keys load; a world-readable file is
// a warning; bad files are errors naming the key and the file.
func TestKeyFiles(t *testing.T) {
	pkcs8RSA, _ := x509.MarshalPKCS8PrivateKey(testRSA())
	pkcs8Ed, _ := x509.MarshalPKCS8PrivateKey(testEd())
	pkcs1 := x509.MarshalPKCS1PrivateKey(testRSA())
	ok := []struct {
		name, path, warn string
	}{
		{"pkcs1", writePEM(t, "RSA PRIVATE KEY", pkcs1, 0o600), ""},
		{"pkcs8_rsa", writePEM(t, "PRIVATE KEY", pkcs8RSA, 0o640), ""},
		{"pkcs8_ed25519", writePEM(t, "PRIVATE KEY", pkcs8Ed, 0o644), "private key file is readable by everyone"},
	}
	for _, tc := range ok {
		var logs logBuffer
		f, err := New(Options{Hostname: "mx", Logger: logs.logger(),
			Keys: []Key{{Domain: "example.com", Selector: "s", KeyFile: tc.path}}})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(f.keys["example.com"]) != 1 {
			t.Errorf("%s: keys %v", tc.name, f.keys)
		}
		if got := logs.String(); (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
			t.Errorf("%s: log %q, want %q", tc.name, got, tc.warn)
		}
	}
	garbage := writePEM(t, "CERTIFICATE", []byte("x"), 0o600)
	badDER := writePEM(t, "PRIVATE KEY", []byte("x"), 0o600)
	encrypted := writePEM(t, "ENCRYPTED PRIVATE KEY", []byte("x"), 0o600)
	missing := filepath.Join(t.TempDir(), "none.pem")
	for _, tc := range []struct {
		key  Key
		want string
	}{
		{Key{Domain: "example.com", Selector: "s", KeyFile: garbage},
			`dkim: keys[0].key_file: ` + garbage + `: no "PRIVATE KEY" or "RSA PRIVATE KEY" PEM block`},
		{Key{Domain: "example.com", Selector: "s", KeyFile: badDER}, `dkim: keys[0].key_file: ` + badDER + `: asn1: `},
		{Key{Domain: "example.com", Selector: "s", KeyFile: encrypted},
			`dkim: keys[0].key_file: ` + encrypted + `: the key is encrypted`},
		{Key{Domain: "example.com", Selector: "s", KeyFile: missing}, `dkim: keys[0].key_file: stat ` + missing + `: no such file`},
		{Key{Domain: "example.com", Selector: "s"}, `dkim: keys[0].key_file: missing (want a PEM file with the private key)`},
	} {
		_, err := New(Options{Hostname: "mx", Keys: []Key{tc.key}})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error %v, want prefix %q", err, tc.want)
		}
	}
}

// TestOptionErrors: New reports every bad option by its key.
func TestOptionErrors(t *testing.T) {
	key := testEd()
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"no_authserv_id", Options{}, []string{"dkim: authserv_id: empty (set it, or the host name)"}},
		{"bad_authserv_id", Options{AuthservID: "mx example"}, []string{`dkim: authserv_id: "mx example": want a host name`}},
		{"nothing_to_do", Options{NoVerify: true}, []string{"dkim: verify: verification is off and there are no keys"}},
		{"sign_headers", Options{Hostname: "mx", SignHeaders: []string{"To", "to", "Bad Name", "DKIM-Signature"}}, []string{
			`dkim: sign_headers[1]: to is listed twice`, `dkim: sign_headers[2]: bad header field name "Bad Name"`,
			`dkim: sign_headers[3]: DKIM-Signature is signed as the signature itself`, `dkim: sign_headers: must hold From`}},
		{"keys", Options{Hostname: "mx", Keys: []Key{
			{Domain: "exa mple.com", Selector: "s", Signer: key},
			{Domain: "example.com", Selector: "-s", Signer: key},
			{Domain: "example.com", Selector: "s_1", Signer: key},
			{Domain: "EXAMPLE.com.", Selector: "S_1", Signer: key},
		}}, []string{`dkim: keys[0].domain: "exa mple.com" is not a domain name`, `dkim: keys[1].selector: "-s" is not a domain name`,
			`dkim: keys[3]: s_1._domainkey.example.com is also keys[2]`}},
		{"negative", Options{Hostname: "mx", MaxMessageBytes: -1, Timeout: -1}, []string{
			"dkim: max_message_bytes: must be >= 0, got -1", "dkim: timeout: must be >= 0, got -1ns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("errors:\n%v\nwant %d", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d: %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestNeeds: exactly the stages, edits and macros each setup uses.
func TestNeeds(t *testing.T) {
	verifyOnly, _ := New(Options{Hostname: "mx"})
	both := newTest(t, testEd(), nil, nil)
	signOnly := newTest(t, testEd(), nil, func(o *Options) { o.NoVerify = true; o.NoSignAuthenticated = true })
	for _, tc := range []struct {
		name                 string
		f                    *Filter
		skip, noReply, edits string
		macros               map[filter.Stage][]string
	}{
		{"verify", verifyOnly, "{connect,helo,mail,rcpt,data,eoh,unknown}", "{header}", "addheader,chgheader,insheader",
			map[filter.Stage][]string{filter.StageEndOfMessage: {"i"}}},
		{"both", both, "{helo,rcpt,data,eoh,unknown}", "{connect,mail,header}", "addheader,chgheader,insheader",
			map[filter.Stage][]string{filter.StageMail: {"{auth_authen}"}, filter.StageEndOfMessage: {"i"}}},
		{"sign", signOnly, "{helo,rcpt,data,eoh,unknown}", "{connect,mail,header}", "addheader,insheader",
			map[filter.Stage][]string{filter.StageEndOfMessage: {"i"}}},
	} {
		n := tc.f.Needs()
		if n.Skip.String() != tc.skip || n.NoReply.String() != tc.noReply || editNames(n.Edits) != tc.edits ||
			!n.HeaderLeadingSpace || !sameMacros(n.Macros, tc.macros) {
			t.Errorf("%s: needs %+v", tc.name, n)
		}
	}
}

func editNames(e filter.EditSet) string {
	var out []string
	for _, x := range []struct {
		set  filter.EditSet
		name string
	}{{filter.EditAddHeader, "addheader"}, {filter.EditChangeHeader, "chgheader"}, {filter.EditInsertHeader, "insheader"}} {
		if e.Has(x.set) {
			out = append(out, x.name)
			e &^= x.set
		}
	}
	if e != 0 {
		out = append(out, "other")
	}
	return strings.Join(out, ",")
}

func sameMacros(a, b map[filter.Stage][]string) bool {
	if a == nil || len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if strings.Join(a[k], ",") != strings.Join(v, ",") {
			return false
		}
	}
	return true
}

// TestForgedResults: Authentication-Results fields claiming our
// authserv-id are deleted (the last first), others kept.
func TestForgedResults(t *testing.T) {
	r := startDNS(t, nil, dnsAnswer)
	msg := "Authentication-Results: MX.example.org; dkim=pass header.d=bank.example\r\n" +
		"Authentication-Results: other.example; dkim=pass\r\n" +
		"Authentication-Results: (comment) \"mx.example.org\"; spf=pass\r\n" + testMsg
	o := run(t, newTest(t, testEd(), r, nil), otherClient, nil, msg, 100)
	var got []string
	for _, e := range o.edits {
		got = append(got, e.String())
	}
	want := "delheader Authentication-Results[3] | delheader Authentication-Results[1] | insheader 0 Authentication-Results:  mx.example.org;\r\n\tdkim=none"
	if strings.Join(got, " | ") != want {
		t.Errorf("edits\n%q\nwant\n%q", strings.Join(got, " | "), want)
	}
	if !strings.HasPrefix(o.result, "Authentication-Results: mx.example.org;\r\n\tdkim=none\r\nAuthentication-Results: other.example; dkim=pass\r\nFrom:") {
		t.Errorf("result %q", o.result)
	}
}

// TestTooLarge: a message over MaxMessageBytes passes untouched, its
// body skipped, with a log line.
func TestTooLarge(t *testing.T) {
	var logs logBuffer
	f := newTest(t, testEd(), nil, func(o *Options) { o.MaxMessageBytes = 300; o.Logger = logs.logger() })
	o := run(t, f, trustedClient, filter.MacroMap{"i": "Q1"}, testMsg+strings.Repeat("x", 100), 10)
	if o.verdict != filter.Continue || len(o.edits) != 0 || !o.skipped {
		t.Errorf("verdict %v edits %v skipped %t", o.verdict, o.edits, o.skipped)
	}
	want := `level=WARN msg="dkim: message over max_message_bytes: neither verified nor signed" id=Q1 max_message_bytes=300` + "\n"
	if logs.String() != want {
		t.Errorf("log %q, want %q", logs.String(), want)
	}
}

// TestSessionReuse: a second message of a connection, after an abort,
// is kept from scratch.
func TestSessionReuse(t *testing.T) {
	f := newTest(t, testEd(), nil, nil)
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.MacroMap{})
	s.Connect(ctx, &envelope.Conn{})
	s.Mail(ctx, envelope.Address{})
	s.Header(ctx, "From", " a@example.com")
	s.Body(ctx, []byte("junk\r\n"))
	s.Abort(ctx)
	ss := s.(*session)
	if ss.buf.size != 0 || len(ss.from) != 0 || ss.inBody || len(ss.names) != 0 {
		t.Errorf("after abort: %+v", ss)
	}
	s.Close(ctx)
}

// editor is a filter that adds a header field at end of message, as the
// built-in headers filter does.
type editor struct{}

func (editor) Needs() filter.Needs {
	return filter.Needs{Edits: filter.EditAddHeader, Macros: map[filter.Stage][]string{}}
}

func (editor) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return editorSession{}, nil
}

type editorSession struct{ filter.Base }

func (editorSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	m.AddHeader("X-Filtered-By", "sluice")
	return filter.Continue
}

// TestAfterEditorInChain: placed after an editor in a chain, the filter
// signs the message as the editor left it, and the signature verifies
// over what the chain's edits produce.
func TestAfterEditorInChain(t *testing.T) {
	r := startDNS(t, map[string]string{"sel._domainkey.example.com": keyRecord(t, testRSA())}, dnsAnswer)
	f := newTest(t, testRSA(), r, func(o *Options) { o.SignHeaders = []string{"From", "X-Filtered-By"} })
	chain := filter.NewChain(editor{}, f)
	ctx := context.Background()
	s, _ := chain.NewSession(ctx, filter.MacroMap{})
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort(trustedClient)})
	s.Mail(ctx, envelope.Address{})
	fields, body := msgParts(t, testMsg)
	for _, h := range fields {
		s.Header(ctx, h.Name, h.Value)
	}
	s.Body(ctx, []byte(body))
	m := filter.NewModifier(chain.Needs().Edits, nil)
	if v := s.EndOfMessage(ctx, m); v != filter.Continue {
		t.Fatalf("verdict %v", v)
	}
	for _, e := range m.Edits() {
		fields = filter.ApplyHeaderEdit(fields, e)
	}
	msg := render(fields, body)
	if !strings.HasPrefix(msg, "DKIM-Signature:") || !strings.Contains(msg, "h=From:From:X-Filtered-By;") {
		t.Fatalf("message %q", msg)
	}
	if v := msgauthVerify(t, msg, r); len(v) != 1 || v[0].Err != nil {
		t.Errorf("go-msgauth: %v", v[0].Err)
	}
}
