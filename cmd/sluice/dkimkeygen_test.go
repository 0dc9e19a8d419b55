package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/dkim"
)

// TestDKIMKeygenSignVerify: the key file loads in the dkim filter through
// the printed [[filters.dkim.keys]] block, the filter signs with it, and
// go-msgauth verifies that signature against the printed TXT record.
func TestDKIMKeygenSignVerify(t *testing.T) {
	tests := []struct {
		name   string
		args   []string // after dkim-keygen; the key goes to dir
		inDir  bool     // --dir dir, else run in dir without --dir
		what   string   // in the "wrote" line
		k, alg string   // k= tag, a= of the signature
	}{
		{"rsa default", []string{"--domain", "Example.COM.", "--selector", "Mail"}, false, "RSA 2048 bits", "rsa", "rsa-sha256"},
		{"ed25519", []string{"--domain", "example.com", "--selector", "mail", "--type", "ed25519"}, true, "Ed25519", "ed25519", "ed25519-sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"dkim-keygen"}, tt.args...)
			if tt.inDir {
				args = append(args, "--dir", dir)
			}
			r := sluice(t, dir, args...)
			path := filepath.Join(dir, "example.com.mail.pem")
			wantErr := "sluice dkim-keygen: wrote " + path + " (" + tt.what + ", mode 0600)\n"
			if r.code != 0 || r.stderr != wantErr {
				t.Fatalf("exit %d, stderr %q; want 0, %q", r.code, r.stderr, wantErr)
			}
			key := readKeyFile(t, path)
			p := "p=" + publicKeyBase64(t, key)
			if len(p) > 255 { // 2048-bit RSA: 394 bytes
				p = p[:255] + "\"\n\t\"" + p[255:]
			}
			want := "; DNS: publish in the zone of example.com\n" +
				"mail._domainkey.example.com. IN TXT ( \"v=DKIM1; k=" + tt.k + "; \"\n\t\"" + p + "\" )\n\n" +
				"# sluice configuration: add under [filters.dkim]\n" +
				"[[filters.dkim.keys]]\ndomain = \"example.com\"\nselector = \"mail\"\nkey_file = \"" + path + "\"\n"
			if r.stdout != want {
				t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want)
			}
			zone, toml, _ := strings.Cut(r.stdout, "\n\n")
			txt := parseTXT(t, zone)
			if wantTXT := "v=DKIM1; k=" + tt.k + "; p=" + publicKeyBase64(t, key); txt != wantTXT {
				t.Fatalf("TXT record %q, want %q", txt, wantTXT)
			}
			sig := signWithKeys(t, loadText(t, toml))
			if !strings.Contains(sig.Value, " a="+tt.alg+";") || !strings.Contains(sig.Value, " d=example.com;") ||
				!strings.Contains(sig.Value, " s=mail;") {
				t.Fatalf("signature %q: want a=%s, d=example.com, s=mail", sig.Value, tt.alg)
			}
			if err := verifyWith(t, sig, txt); err != nil {
				t.Errorf("go-msgauth: %v", err)
			}
			// The same signature against another key fails: the check above can.
			other := "v=DKIM1; k=ed25519; p=" + publicKeyBase64(t, newEd25519(t))
			if verifyWith(t, sig, other) == nil {
				t.Error("go-msgauth accepted the signature with another key")
			}
		})
	}
}

// readKeyFile checks path is mode 0600 and holds exactly one PKCS #8
// PEM block, and returns the key.
func readKeyFile(t *testing.T, path string) crypto.Signer {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" || len(b.Headers) != 0 || len(rest) != 0 {
		t.Fatalf("%s: want one \"PRIVATE KEY\" PEM block and nothing else:\n%s", path, data)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := k.(*rsa.PrivateKey); ok && r.N.BitLen() != 2048 {
		t.Errorf("RSA key of %d bits, want 2048", r.N.BitLen())
	}
	return k.(crypto.Signer)
}

// publicKeyBase64 is the p= value for key's public half, computed here
// apart from the command: SubjectPublicKeyInfo for RSA, the raw 32 bytes
// for Ed25519 (RFC 8463 §4.2).
func publicKeyBase64(t *testing.T, key crypto.Signer) string {
	t.Helper()
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("key type %T", key)
	return ""
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// parseTXT parses the printed zone lines with miekg/dns and returns the
// record's text, its strings joined as a verifier joins them.
func parseTXT(t *testing.T, zone string) string {
	t.Helper()
	rr, err := dns.NewRR(zone)
	if err != nil {
		t.Fatalf("zone text %q: %v", zone, err)
	}
	txt, ok := rr.(*dns.TXT)
	if !ok || txt.Hdr.Name != "mail._domainkey.example.com." || txt.Hdr.Class != dns.ClassINET {
		t.Fatalf("record %v: want a TXT record of IN class at mail._domainkey.example.com.", rr)
	}
	for i, s := range txt.Txt {
		if len(s) > 255 {
			t.Errorf("string %d is %d bytes, more than 255", i, len(s))
		}
	}
	return strings.Join(txt.Txt, "")
}

// signWithKeys loads the keys of cfg with dkim.New, signs a message from
// loopback and returns the DKIM-Signature field it adds.
func signWithKeys(t *testing.T, cfg *config.Config) filter.HeaderField {
	t.Helper()
	keys := cfg.Filters.DKIM.Keys
	if len(keys) != 1 {
		t.Fatalf("keys %v: want one", keys)
	}
	var log bytes.Buffer
	f, err := dkim.New(dkim.Options{
		NoVerify: true,
		Keys:     []dkim.Key{{Domain: keys[0].Domain, Selector: keys[0].Selector, KeyFile: keys[0].KeyFile}},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatalf("dkim.New: %v", err)
	}
	if log.Len() != 0 {
		t.Fatalf("dkim.New logged %q: want no warning", log.String())
	}
	ctx := context.Background()
	s, err := f.NewSession(ctx, filter.MacroMap{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("127.0.0.1:5000")})
	s.Mail(ctx, envelope.Address{Addr: "alice@example.com"})
	for _, h := range keygenHeader {
		s.Header(ctx, h.Name, h.Value)
	}
	s.Body(ctx, []byte(keygenBody))
	m := filter.NewModifier(f.Needs().Edits, nil)
	if v := s.EndOfMessage(ctx, m); v != filter.Continue {
		t.Fatalf("end of message: %v", v)
	}
	edits := m.Edits()
	if len(edits) != 1 || edits[0].Name != "DKIM-Signature" {
		t.Fatalf("edits %v: want one DKIM-Signature", edits)
	}
	return filter.HeaderField{Name: edits[0].Name, Value: edits[0].Value}
}

var keygenHeader = []filter.HeaderField{
	{Name: "From", Value: " Alice <alice@example.com>"},
	{Name: "To", Value: " bob@example.net"},
	{Name: "Subject", Value: " key test"},
}

const keygenBody = "Hello\r\n"

// verifyWith checks the message signed with sig with go-msgauth, the key
// record at mail._domainkey.example.com being record.
func verifyWith(t *testing.T, sig filter.HeaderField, record string) error {
	t.Helper()
	var msg strings.Builder
	for _, h := range append([]filter.HeaderField{sig}, keygenHeader...) {
		msg.WriteString(h.Name + ":" + h.Value + "\r\n")
	}
	msg.WriteString("\r\n" + keygenBody)
	vs, err := msgdkim.VerifyWithOptions(strings.NewReader(msg.String()), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != "mail._domainkey.example.com" {
				return nil, fmt.Errorf("lookup of %s", name)
			}
			return []string{record}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Domain != "example.com" {
		t.Fatalf("verifications %+v: want one for example.com", vs)
	}
	return vs[0].Err
}

// TestDKIMKeygenRefusesOverwrite: a second run with the same names
// fails and leaves the first key as it was.
func TestDKIMKeygenRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	args := []string{"dkim-keygen", "--domain", "example.org", "--selector", "s1", "--type", "ed25519"}
	if r := sluice(t, dir, args...); r.code != 0 {
		t.Fatalf("first run: %+v", r)
	}
	path := filepath.Join(dir, "example.org.s1.pem")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check(t, sluice(t, dir, args...), result{1, "",
		path + " exists: not overwriting it (remove it, or choose another selector)\n"})
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the key file changed")
	}
}

// TestDKIMKeygenErrors: usage errors exit 2, a missing directory 1; none
// leaves a file.
func TestDKIMKeygenErrors(t *testing.T) {
	const more = "Run 'sluice --help' for usage.\n"
	d, s := []string{"--domain", "example.com"}, []string{"--selector", "mail"}
	join := func(parts ...[]string) []string {
		out := []string{"dkim-keygen"}
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		args []string
		want result
	}{
		{"no domain", join(s), result{2, "", "sluice dkim-keygen: --domain is required\n" + more}},
		{"no selector", join(d), result{2, "", "sluice dkim-keygen: --selector is required\n" + more}},
		{"rsa 1024", join(d, s, []string{"--bits", "1024"}), result{2, "", "sluice dkim-keygen: --bits 1024: too weak: want 2048, 3072 or 4096\n" + more}},
		{"rsa 2000", join(d, s, []string{"--bits", "2000"}), result{2, "", "sluice dkim-keygen: --bits 2000: too weak: want 2048, 3072 or 4096\n" + more}},
		{"rsa 8192", join(d, s, []string{"--bits", "8192"}), result{2, "", "sluice dkim-keygen: --bits 8192: want 2048, 3072 or 4096\n" + more}},
		{"bits not a number", join(d, s, []string{"--bits", "many"}), result{2, "",
			"sluice dkim-keygen: invalid argument \"many\" for \"--bits\" flag: strconv.ParseInt: parsing \"many\": invalid syntax\n" + more}},
		{"ed25519 bits", join(d, s, []string{"--type", "ed25519", "--bits", "2048"}), result{2, "",
			"sluice dkim-keygen: --bits is for RSA keys (Ed25519 keys have one size)\n" + more}},
		{"type", join(d, s, []string{"--type", "dsa"}), result{2, "", "sluice dkim-keygen: --type \"dsa\": want rsa or ed25519\n" + more}},
		{"domain", join([]string{"--domain", "exa mple.com"}, s), result{2, "",
			"sluice dkim-keygen: --domain: \"exa mple.com\" is not a domain name (letters, digits and hyphens)\n" + more}},
		{"both names", join([]string{"--domain", "-x.com", "--selector", "a..b"}), result{2, "",
			"sluice dkim-keygen: --domain: \"-x.com\" is not a domain name; --selector: \"a..b\" is not a domain name\n" + more}},
		{"argument", join(d, s, []string{"extra"}), result{2, "", "sluice dkim-keygen: unexpected argument \"extra\"\n" + more}},
		{"no directory", join(d, s, []string{"--type", "ed25519", "--dir", "missing"}), result{1, "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.name == "no directory" {
				tt.want.stderr = "open " + filepath.Join(dir, "missing", "example.com.mail.pem") + ": no such file or directory\n"
			}
			check(t, sluice(t, dir, tt.args...), tt.want)
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left %v in the directory", ents)
			}
		})
	}
}

func TestDKIMKeygenRSABits(t *testing.T) {
	for bits, ok := range map[int]bool{0: false, 512: false, 1024: false, 2047: false, 2048: true, 3072: true, 4096: true, 4097: false, 8192: false} {
		if err := checkRSABits(bits); (err == nil) != ok {
			t.Errorf("checkRSABits(%d) = %v, want accepted %v", bits, err, ok)
		}
	}
}

func TestDKIMKeygenSplitTXT(t *testing.T) {
	a255, b := strings.Repeat("a", 255), strings.Repeat("b", 255)
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"p=x", []string{"p=x"}},
		{a255, []string{a255}},
		{a255 + "b", []string{a255, "b"}},
		{a255 + b + "c", []string{a255, b, "c"}},
	}
	for _, tt := range tests {
		if got := splitTXT(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTXT(%d bytes) = %q, want %q", len(tt.in), got, tt.want)
		}
	}
}

func TestDKIMKeygenTOMLString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/etc/sluice/dkim/example.com.mail.pem", `"/etc/sluice/dkim/example.com.mail.pem"`},
		{`C:\keys\"x".pem`, `"C:\\keys\\\"x\".pem"`},
		{"a\tb\x7fé", `"a\u0009b\u007Fé"`},
	}
	for _, tt := range tests {
		got := tomlString(tt.in)
		if got != tt.want {
			t.Errorf("tomlString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var v struct{ K string }
		if err := toml.Unmarshal([]byte("k = "+got), &v); err != nil || v.K != tt.in {
			t.Errorf("TOML reads %s as %q (%v), want %q", got, v.K, err, tt.in)
		}
	}
}
