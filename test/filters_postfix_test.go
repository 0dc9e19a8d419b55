package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/test/peer"
)

// fpConfig is the `sluice milter` configuration behind Postfix: %d is
// the port, %s the loopback DNS server (twice), %s the DKIM key file.
const fpConfig = `
hostname = "sluice.test"
log_level = "debug"

[milter_server]
listen = "inet:%d@127.0.0.1"
shutdown_timeout = "5s"

[filters.spf]
skip_networks = []
timeout = "5s"
resolver = "%s"

[filters.dkim]
timeout = "5s"
resolver = "%s"
sign_networks = ["127.0.0.0/8"]
sign_headers = ["From", "To", "Subject", "Date", "Message-ID"]
[[filters.dkim.keys]]
domain = "example.com"
selector = "pf"
key_file = "%s"
`

// fpRecords is the DNS the filters see: SPF policies and the DKIM key
// (added by the test).
var fpRecords = map[string]string{
	"example.com":   "v=spf1 ip4:127.0.0.1 -all",
	"fail.example":  "v=spf1 -all",
	"other.example": "v=spf1 ip4:192.0.2.0/24 -all",
}

// TestFiltersBehindPostfix puts a real `sluice milter` with
// [filters.spf] and [filters.dkim] (both asking a loopback DNS server)
// behind a private Postfix as its smtpd_milters, relaying to smtp-sink.
// What the filters decide shows which facts they got from Postfix:
//   - from 127.0.0.1 (SMFIC_CONNECT's address, in sign_networks): the
//     message is signed (go-msgauth verifies it against the served key)
//     and gets Received-SPF with client-ip=127.0.0.1 and receiver= the
//     j macro (Postfix's myhostname); the dkim log line names the queue
//     ID Postfix gave (macro i);
//   - an SPF "-all" sender gets the filter's 550 5.7.23 as Postfix's
//     reply to MAIL;
//   - after XCLIENT ADDR=192.0.2.7 (Postfix runs the milter connect
//     again): SPF checks 192.0.2.7, and the message is verified rather
//     than signed (dkim=none);
//   - after XCLIENT ADDR=192.0.2.7 LOGIN=alice: {auth_authen} makes the
//     dkim filter sign and the spf filter skip the check.
func TestFiltersBehindPostfix(t *testing.T) {
	peer.Need(t, "postfix", "smtp-sink")
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a private Postfix instance (its daemons switch to the postfix user)")
	}
	bin := svBuildSluice(t) // with -race when the tests run with it
	key, txt := fpRSAKey(t)
	records := map[string]string{"pf._domainkey.example.com": txt}
	for k, v := range fpRecords {
		records[k] = v
	}
	resolver := dkimDNS(t, records)
	srv := fpStartMilter(t, bin, resolver, key)
	sink := peer.StartSink(t, peer.SinkOptions{})
	pf := peer.StartPostfix(t, peer.PostfixOptions{
		Relay: sink.Addr,
		Main: map[string]string{
			"smtpd_milters":                  fmt.Sprintf("inet:127.0.0.1:%d", srv.port),
			"milter_default_action":          "tempfail",
			"milter_protocol":                "6",
			"mynetworks":                     "127.0.0.0/8",
			"relay_domains":                  "example.org",
			"smtpd_authorized_xclient_hosts": "127.0.0.0/8",
		},
	})
	rig := &pmRig{sink: sink}

	t.Run("signed from loopback", func(t *testing.T) { fpSigned(t, pf, rig, resolver, srv) })
	t.Run("spf fail at MAIL", func(t *testing.T) { fpSPFFail(t, pf) })
	t.Run("xclient address", func(t *testing.T) { fpXclientAddr(t, pf, rig) })
	t.Run("xclient login", func(t *testing.T) { fpXclientLogin(t, pf, rig, resolver) })
	if !srv.running() {
		t.Fatalf("sluice milter exited: %v", srv.waitErr)
	}
	srv.stop(t)
	if strings.Contains(srv.log(), "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in sluice milter:\n%s", srv.log())
	}
}

// fpMessage is a message from alice@example.com as the client sends it.
func fpMessage(to, subject string) string {
	return "From: Alice <alice@example.com>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n" +
		"Date: Mon, 02 Jun 2025 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "-") +
		"@example.com>\r\n\r\nHello  Bob, \r\n\r\n"
}

func fpSigned(t *testing.T, pf *peer.Postfix, rig *pmRig, resolver string, srv *mtServer) {
	c := fpDial(t, pf)
	c.cmd("EHLO client.example", "250-")
	id := c.send("alice@example.com", "bob@example.org", fpMessage("bob@example.org", "signed"))
	c.quit()
	m := rig.waitTo(t, "bob@example.org", 1)[0]
	fpVerify(t, m.Data, resolver, "pf")
	want := "Received-SPF: pass (postfix.test: domain of alice@example.com designates\r\n" +
		"\t127.0.0.1 as permitted sender) client-ip=127.0.0.1;\r\n" +
		"\tenvelope-from=\"alice@example.com\"; helo=client.example;\r\n" +
		"\treceiver=postfix.test; identity=mailfrom\r\n"
	// Both filters insert at the top, dkim (last in the chain) above
	// spf, and Postfix passes that on: both above its own Received.
	if !bytes.HasPrefix(m.Data, []byte("DKIM-Signature: ")) || fpCount(m.Data, "Received-SPF") != 1 ||
		!bytes.Contains(m.Data, []byte("\r\n"+want+"Received: from client.example (localhost [127.0.0.1])\r\n")) {
		t.Errorf("want DKIM-Signature, then one Received-SPF field\n%q\nthen Postfix's Received in the delivered message:\n%s", want, m.Data)
	}
	if fpCount(m.Data, "Authentication-Results") != 0 {
		t.Errorf("a signed message got Authentication-Results:\n%s", m.Data)
	}
	if !strings.HasSuffix(string(m.Data), "\r\n\r\nHello  Bob, \r\n\r\n") {
		t.Errorf("body changed:\n%q", m.Data)
	}
	// The dkim filter logs the queue ID from the i macro.
	fpWaitLog(t, srv, regexp.MustCompile(`dkim: signed.* id=`+id+`\b`))
}

func fpSPFFail(t *testing.T, pf *peer.Postfix) {
	c := fpDial(t, pf)
	c.cmd("EHLO client.example", "250-")
	c.cmd("MAIL FROM:<mallory@fail.example>",
		"550 5.7.23 SPF validation failed: fail.example does not designate 127.0.0.1 as a permitted sender")
	c.cmd("RCPT TO:<victim@example.org>", "503 5.5.1 Error: need MAIL command")
	c.quit()
	pf.WaitLog(t, "NOQUEUE: milter-reject: MAIL from localhost[127.0.0.1]: 550 5.7.23 SPF validation failed: "+
		"fail.example does not designate 127.0.0.1 as a permitted sender; from=<mallory@fail.example> proto=ESMTP helo=<client.example>\n", pmWait)
}

func fpXclientAddr(t *testing.T, pf *peer.Postfix, rig *pmRig) {
	c := fpDial(t, pf)
	c.cmd("EHLO client.example", "250-")
	c.cmd("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE]", "220 ")
	c.cmd("EHLO remote.example", "250-")
	c.send("carol@other.example", "dave@example.org", fpMessage("dave@example.org", "from elsewhere"))
	c.quit()
	m := rig.waitTo(t, "dave@example.org", 1)[0]
	wantSPF := "Received-SPF: pass (postfix.test: domain of carol@other.example designates\r\n" +
		"\t192.0.2.7 as permitted sender) client-ip=192.0.2.7;\r\n" +
		"\tenvelope-from=\"carol@other.example\"; helo=remote.example;\r\n" +
		"\treceiver=postfix.test; identity=mailfrom\r\n"
	wantAR := "Authentication-Results: sluice.test;\r\n\tdkim=none\r\n"
	if !bytes.Contains(m.Data, []byte(wantSPF)) || fpCount(m.Data, "Received-SPF") != 1 {
		t.Errorf("want one Received-SPF field\n%q\nin the delivered message:\n%s", wantSPF, m.Data)
	}
	if !bytes.Contains(m.Data, []byte(wantAR)) || fpCount(m.Data, "Authentication-Results") != 1 {
		t.Errorf("want one field\n%q\nin the delivered message:\n%s", wantAR, m.Data)
	}
	if fpCount(m.Data, "DKIM-Signature") != 0 {
		t.Errorf("mail from 192.0.2.7 (not in sign_networks, not authenticated) was signed:\n%s", m.Data)
	}
}

func fpXclientLogin(t *testing.T, pf *peer.Postfix, rig *pmRig, resolver string) {
	c := fpDial(t, pf)
	c.cmd("EHLO client.example", "250-")
	c.cmd("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE] LOGIN=alice", "220 ")
	c.cmd("EHLO remote.example", "250-")
	c.send("alice@example.com", "erin@example.org", fpMessage("erin@example.org", "authenticated"))
	c.quit()
	m := rig.waitTo(t, "erin@example.org", 1)[0]
	fpVerify(t, m.Data, resolver, "pf")
	if n := fpCount(m.Data, "Received-SPF"); n != 0 {
		t.Errorf("an authenticated client's message got %d Received-SPF fields:\n%s", n, m.Data)
	}
}

// fpVerify checks with go-msgauth, asking the loopback DNS server, that
// msg has exactly one DKIM signature, by example.com with selector, that
// passes and covers From.
func fpVerify(t *testing.T, msg []byte, resolver, selector string) {
	t.Helper()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", resolver)
	}}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) },
	})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.com" || !fpHasFrom(vs[0].HeaderKeys) {
		t.Errorf("go-msgauth: %v %+v; message:\n%s", err, vs, msg)
	}
	if !bytes.Contains(msg, []byte("s="+selector+";")) {
		t.Errorf("no s=%s; in the signature:\n%s", selector, msg)
	}
}

func fpHasFrom(keys []string) bool {
	for _, k := range keys {
		if strings.EqualFold(k, "From") {
			return true
		}
	}
	return false
}

// fpCount counts the header fields called name (at the start of a line,
// before the body).
func fpCount(msg []byte, name string) int {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	n := 0
	for _, line := range strings.Split(string(head), "\r\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			n++
		}
	}
	return n
}

// fpRSAKey writes a 2048-bit RSA key (PKCS #8 PEM, 0600) and returns its
// path and its DNS TXT record.
func fpRSAKey(t *testing.T) (path, txt string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return path, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)
}

// fpStartMilter starts `sluice milter` with fpConfig on a free loopback
// port and waits until it accepts; it is killed when the test ends, and
// its log printed if the test failed.
func fpStartMilter(t *testing.T, bin, resolver, keyFile string) *mtServer {
	t.Helper()
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		port := peer.FreePort(t)
		cfg := filepath.Join(dir, fmt.Sprintf("sluice-%d.toml", port))
		if err := os.WriteFile(cfg, fmt.Appendf(nil, fpConfig, port, resolver, resolver, keyFile), 0o644); err != nil {
			t.Fatal(err)
		}
		s := &mtServer{port: port, logPath: filepath.Join(dir, fmt.Sprintf("sluice-%d.log", port)), done: make(chan struct{})}
		logFile, err := os.Create(s.logPath)
		if err != nil {
			t.Fatal(err)
		}
		s.cmd = exec.Command(bin, "milter", "--config", cfg)
		s.cmd.Dir = dir
		s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
		err = s.cmd.Start()
		_ = logFile.Close() // the child has its own descriptor
		if err != nil {
			t.Fatalf("start sluice milter: %v", err)
		}
		go func() {
			s.waitErr = s.cmd.Wait()
			close(s.done)
		}()
		t.Cleanup(func() {
			s.kill()
			if t.Failed() {
				t.Logf("sluice milter log:\n%s", s.log())
			}
		})
		err = s.waitListening()
		if err == nil {
			return s
		}
		s.kill()
		if attempt == mtStartAttempts || !strings.Contains(s.log(), "address already in use") {
			t.Fatalf("%v\nsluice milter log:\n%s", err, s.log())
		}
	}
}

// fpWaitLog waits until the milter's log matches re.
func fpWaitLog(t *testing.T, s *mtServer, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(pmWait)
	for !re.MatchString(s.log()) {
		if time.Now().After(deadline) {
			t.Fatalf("sluice milter log does not match %q after %v:\n%s", re, pmWait, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fpConn is a raw SMTP client connection to Postfix.
type fpConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// fpDial connects to Postfix and reads its greeting; the whole session
// must end within pmWait.
func fpDial(t *testing.T, pf *peer.Postfix) *fpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", pf.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(pmWait)); err != nil {
		t.Fatal(err)
	}
	f := &fpConn{t: t, c: c, br: bufio.NewReader(c)}
	if r := f.reply(); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("greeting %q", r)
	}
	return f
}

// reply reads one reply, its lines joined with "\n".
func (f *fpConn) reply() string {
	f.t.Helper()
	var lines []string
	for range 100 {
		line, err := f.br.ReadString('\n')
		if err != nil {
			f.t.Fatalf("reading a reply after %q: %v", lines, err)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
	f.t.Fatalf("reply longer than 100 lines: %q", lines)
	return ""
}

// cmd sends line and checks the reply: it must equal want or, when want
// ends in "-" or " ", start with it.
func (f *fpConn) cmd(line, want string) string {
	f.t.Helper()
	if _, err := f.c.Write([]byte(line + "\r\n")); err != nil {
		f.t.Fatal(err)
	}
	r := f.reply()
	prefix := strings.HasSuffix(want, "-") || strings.HasSuffix(want, " ")
	if (prefix && !strings.HasPrefix(r, want)) || (!prefix && r != want) {
		f.t.Fatalf("%s: reply %q, want %q", line, r, want)
	}
	return r
}

var fpQueued = regexp.MustCompile(`^250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$`)

// send runs one transaction and returns Postfix's queue ID.
func (f *fpConn) send(from, to, content string) string {
	f.t.Helper()
	f.cmd("MAIL FROM:<"+from+">", "250 2.1.0 Ok")
	f.cmd("RCPT TO:<"+to+">", "250 2.1.5 Ok")
	f.cmd("DATA", "354 ")
	r := f.cmd(content+".", "250 ")
	m := fpQueued.FindStringSubmatch(r)
	if m == nil {
		f.t.Fatalf("end of data: %q, want 250 2.0.0 Ok: queued as ID", r)
	}
	return m[1]
}

func (f *fpConn) quit() {
	f.t.Helper()
	f.cmd("QUIT", "221 2.0.0 Bye")
	if b, err := f.br.ReadByte(); !errors.Is(err, io.EOF) {
		f.t.Errorf("after 221: read %q, %v; want the connection closed", b, err)
	}
}
