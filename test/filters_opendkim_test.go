package test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/test/peer"
)

// foTimeout bounds one opendkim start, stop, and milter-test run.
const foTimeout = 30 * time.Second

// foMessage is the message both directions sign: folded Subject, runs of
// spaces, trailing space, a line with a dot, trailing empty lines.
const foMessage = "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.net>\r\n" +
	"Subject: interop\r\n  with   OpenDKIM\r\nDate: Tue, 1 Apr 2025 10:00:00 +0000\r\n" +
	"Message-ID: <interop@example.com>\r\n\r\n" +
	"Hello Bob,\r\n\r\nthis  message is signed. \r\n.a line with a dot\r\n\r\n\r\n"

// TestFiltersDKIMSluiceSignsOpenDKIMVerifies: the real `sluice serve`
// signs with [filters.dkim] (an RSA and an Ed25519 key for example.com);
// the message as relayed to the sink goes through OpenDKIM in verifying
// mode (Mode v, public keys from a TestPublicKeys file), driven by
// `sluice milter-test`, and OpenDKIM's Authentication-Results says
// dkim=pass for both signatures. The same message with its body changed
// gets dkim=fail from OpenDKIM.
func TestFiltersDKIMSluiceSignsOpenDKIMVerifies(t *testing.T) {
	od := foNeedOpenDKIM(t)
	bin := svBuildSluice(t)
	dir := t.TempDir()
	rsaKey, rsaTXT := fpRSAKey(t)
	edKey, edTXT := foEd25519Key(t, dir)
	keys := filepath.Join(dir, "public-keys")
	if err := os.WriteFile(keys, []byte("rsa._domainkey.example.com "+rsaTXT+"\n"+
		"ed._domainkey.example.com "+edTXT+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	verifier := foStartOpenDKIM(t, od, dir, "Mode v", "AuthservID verifier.test", "TestPublicKeys "+keys)

	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		Downstream: sink.Downstream(),
		Extra: `[filters.dkim]
timeout = "5s"
resolver = "127.0.0.1:9" # discard: the message is signed, nothing looked up
[[filters.dkim.keys]]
domain = "example.com"
selector = "rsa"
key_file = "` + rsaKey + `"
[[filters.dkim.keys]]
domain = "example.com"
selector = "ed"
key_file = "` + edKey + `"
`,
	})
	c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.send("alice@example.com", []string{"bob@example.net"}, []byte(foMessage))
	c.quit()
	signed := foUnstuff(sink.waitOne(t, "bob@example.net").Data)
	s.stop(t)
	if n := fpCount(signed, "DKIM-Signature"); n != 2 {
		t.Fatalf("%d DKIM-Signature fields, want 2:\n%s", n, signed)
	}

	// OpenDKIM lists the signatures top down: sluice inserted the rsa
	// one first, then the ed one above it. Its public keys come from a
	// file, hence no "unprotected" (no DNSSEC) in the comment.
	b := foSigBs(t, signed)
	for _, tt := range []struct {
		name   string
		msg    []byte
		result string
	}{
		{"as relayed", signed, "dkim=pass"},
		{"body changed", bytes.Replace(signed, []byte("Hello Bob"), []byte("Hello Eve"), 1),
			`dkim=fail reason="signature verification failed"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := foMilterTest(t, bin, verifier, tt.msg, "192.0.2.7")
			want := " verifier.test;\r\n\t" +
				tt.result + " header.d=example.com header.i=@example.com header.a=ed25519-sha256 header.s=ed header.b=" + b["ed"] + ";\r\n\t" +
				tt.result + " (2048-bit key) header.d=example.com header.i=@example.com header.a=rsa-sha256 header.s=rsa header.b=" + b["rsa"] + ";\r\n\t" +
				"dkim-atps=neutral"
			// OpenDKIM writes header.b bare even when it holds "/".
			if ar := r.field(t, "Authentication-Results"); ar != want {
				t.Errorf("OpenDKIM's Authentication-Results:\n%q\nwant\n%q", ar, want)
			}
		})
	}
}

// foSigBs returns, by selector, header.b (RFC 6008) of each
// DKIM-Signature field of msg.
func foSigBs(t *testing.T, msg []byte) map[string]string {
	t.Helper()
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	unfolded := regexp.MustCompile(`\r\n[ \t]`).ReplaceAllString(string(head), " ")
	out := map[string]string{}
	for line := range strings.SplitSeq(unfolded, "\r\n") {
		if v, ok := strings.CutPrefix(line, "DKIM-Signature:"); ok {
			m := regexp.MustCompile(`(?:^|;)\s*s=([^;\s]+)`).FindStringSubmatch(v)
			if m == nil {
				t.Fatalf("no s= tag in %q", v)
			}
			out[m[1]] = foSigB(t, v)
		}
	}
	return out
}

// TestFiltersDKIMOpenDKIMSignsSluiceVerifies: OpenDKIM in signing mode
// (Mode s, simple/simple, a key made by opendkim-genkey), driven by
// `sluice milter-test`, signs the message; sent to the real `sluice
// serve` with [filters.dkim] verifying and asking a loopback DNS server
// that publishes opendkim-genkey's record, it reaches the sink with
// sluice's Authentication-Results saying dkim=pass; with its body
// changed, dkim=fail.
func TestFiltersDKIMOpenDKIMSignsSluiceVerifies(t *testing.T) {
	od := foNeedOpenDKIM(t)
	peer.Need(t, "opendkim-genkey")
	bin := svBuildSluice(t)
	dir := t.TempDir()
	txt := foGenKey(t, dir, "od")
	signer := foStartOpenDKIM(t, od, dir, "Mode s", "Domain example.com", "Selector od",
		"KeyFile "+filepath.Join(dir, "od.private"), "Canonicalization simple/simple", "InternalHosts 127.0.0.1")
	r := foMilterTest(t, bin, signer, []byte(foMessage), "127.0.0.1")
	signed := r.render()
	sig := r.field(t, "DKIM-Signature")
	for _, tag := range []string{"d=example.com;", "s=od;", "c=simple/simple;", "a=rsa-sha256;"} {
		if !strings.Contains(sig, tag) {
			t.Errorf("OpenDKIM's signature lacks %s:\n%s", tag, sig)
		}
	}

	resolver := dkimDNS(t, map[string]string{"od._domainkey.example.com": txt})
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		Downstream: sink.Downstream(),
		Extra: `[filters.dkim]
timeout = "5s"
resolver = "` + resolver + `"
`,
	})
	c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.send("alice@example.com", []string{"pass@example.net"}, signed)
	c.send("alice@example.com", []string{"fail@example.net"}, bytes.Replace(signed, []byte("Hello Bob"), []byte("Hello Eve"), 1))
	c.quit()
	b := foSigB(t, sig)
	for _, tt := range []struct{ rcpt, result string }{
		{"pass@example.net", "dkim=pass"},
		{"fail@example.net", `dkim=fail reason="dkim: body hash did not verify"`},
	} {
		m := sink.waitOne(t, tt.rcpt)
		want := "\r\nAuthentication-Results: sluice.test;\r\n\t" + tt.result +
			" header.d=example.com header.s=od header.b=" + foPValue(b) + "\r\nDKIM-Signature:"
		if !bytes.Contains(m.Data, []byte(want)) || fpCount(m.Data, "Authentication-Results") != 1 {
			t.Errorf("%s: delivered content\n%q\nwant one Authentication-Results field, before the signature:\n%q", tt.rcpt, m.Data, want)
		}
	}
	s.stop(t)
}

// foSigB returns the first 8 characters of the b= tag of a DKIM-Signature
// value, as RFC 6008 header.b shows it.
func foSigB(t *testing.T, sig string) string {
	t.Helper()
	for part := range strings.SplitSeq(sig, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.TrimSpace(k) == "b" {
			v = strings.Join(strings.Fields(v), "")
			if len(v) >= 8 {
				return v[:8]
			}
		}
	}
	t.Fatalf("no b= tag in %q", sig)
	return ""
}

// foPValue is v as an RFC 8601 property value: a quoted-string when it
// holds one of RFC 2045's tspecials (base64 has "/" and "="), else as is.
func foPValue(v string) string {
	if strings.ContainsAny(v, "()<>@,;:\\\"/[]?=") {
		return `"` + v + `"`
	}
	return v
}

// foNeedOpenDKIM skips the test unless opendkim is installed, and
// returns its path.
func foNeedOpenDKIM(t *testing.T) string {
	t.Helper()
	peer.Need(t, "opendkim")
	return svLookPath(t, "opendkim")
}

// foEd25519Key writes an Ed25519 key (PKCS #8 PEM, 0600) into dir and
// returns its path and DNS TXT record (RFC 8463: the raw public key).
func foEd25519Key(t *testing.T, dir string) (path, txt string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "ed.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

// foGenKey runs opendkim-genkey for example.com into dir and returns
// the TXT record of its zone file stub (SELECTOR.txt), the quoted
// strings joined.
func foGenKey(t *testing.T, dir, selector string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), foTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, svLookPath(t, "opendkim-genkey"), "--bits=2048",
		"--directory="+dir, "--domain=example.com", "--selector="+selector)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opendkim-genkey: %v\n%s", err, out)
	}
	stub, err := os.ReadFile(filepath.Join(dir, selector+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(string(stub), -1) {
		txt.WriteString(m[1])
	}
	if !strings.Contains(txt.String(), "p=") {
		t.Fatalf("no public key in opendkim-genkey's %s.txt:\n%s", selector, stub)
	}
	return txt.String()
}

// foStartOpenDKIM runs `opendkim -f` with conf (lines) on a free loopback
// port and returns its milter address; it is stopped, by PID, when the
// test ends. t.TempDir lies under the world-writable /tmp, so OpenDKIM
// needs RequireSafeKeys off to read a key file there.
func foStartOpenDKIM(t *testing.T, bin, dir string, conf ...string) string {
	t.Helper()
	port := peer.FreePort(t)
	lines := append([]string{
		fmt.Sprintf("Socket inet:%d@127.0.0.1", port),
		"Syslog no",
		"RequireSafeKeys no",
		"UMask 077",
		"PidFile " + filepath.Join(dir, fmt.Sprintf("opendkim-%d.pid", port)),
	}, conf...)
	confFile := filepath.Join(dir, fmt.Sprintf("opendkim-%d.conf", port))
	if err := os.WriteFile(confFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("opendkim-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, "-f", "-x", confFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start opendkim: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(foTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("opendkim output:\n%s", readLog())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(foTimeout)
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("opendkim exited before listening on %s: %v\n%s", addr, err, readLog())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return fmt.Sprintf("inet:%d@127.0.0.1", port)
		}
		if time.Now().After(deadline) {
			t.Fatalf("opendkim not listening on %s after %v", addr, foTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// foResult is the part of `sluice milter-test --json` these tests read.
type foResult struct {
	Edits []struct {
		Kind, Name, Value string
	}
	Result struct {
		Verdict string
	}
	Error   string
	Message *struct {
		Headers []struct{ Name, Value string }
		Body    string
	}
}

// foMilterTest drives the milter at addr through msg with `sluice
// milter-test --json`, as a client at clientAddr, and wants it accepted.
func foMilterTest(t *testing.T, bin, addr string, msg []byte, clientAddr string) *foResult {
	t.Helper()
	eml := filepath.Join(t.TempDir(), "message.eml")
	if err := os.WriteFile(eml, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), foTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "milter-test", addr, "--eml", eml, "--json",
		"--from", "alice@example.com", "--to", "bob@example.net", "--client-addr", clientAddr,
		"--client-name", "client.test", "--helo", "client.test", "--timeout", "10s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r foResult
	if jerr := json.Unmarshal(out, &r); err != nil || jerr != nil || r.Message == nil {
		t.Fatalf("sluice milter-test: %v %v\n%s\n%s", err, jerr, out, stderr.Bytes())
	}
	return &r
}

// field returns the value of the one header edit named name.
func (r *foResult) field(t *testing.T, name string) string {
	t.Helper()
	var vals []string
	for _, e := range r.Edits {
		if strings.EqualFold(e.Name, name) {
			vals = append(vals, e.Value)
		}
	}
	if len(vals) != 1 {
		t.Fatalf("%d edits of %s, want 1: %+v", len(vals), name, r.Edits)
	}
	return vals[0]
}

// render returns the message as the milter's edits left it.
func (r *foResult) render() []byte {
	var b bytes.Buffer
	for _, h := range r.Message.Headers {
		b.WriteString(h.Name + ":" + h.Value + "\r\n")
	}
	b.WriteString("\r\n" + r.Message.Body)
	return b.Bytes()
}

// foUnstuff undoes the dot-stuffing of content as the sink recorded it.
func foUnstuff(data []byte) []byte {
	out := bytes.ReplaceAll(data, []byte("\r\n.."), []byte("\r\n."))
	if bytes.HasPrefix(out, []byte("..")) {
		out = out[1:]
	}
	return out
}
