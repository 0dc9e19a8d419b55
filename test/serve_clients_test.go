package test

import (
	"bytes"
	"context"
	cryptotls "crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// svPython sends one message with smtplib, over STARTTLS when its second
// argument is "tls", and prints the DATA reply's code and text.
const svPython = `
import smtplib, ssl, sys
addr, mode, rcpt, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
host, port = addr.rsplit(":", 1)
with open(path, "rb") as f:
    content = f.read()
s = smtplib.SMTP(host, int(port), local_hostname="python.client.test", timeout=30)
s.ehlo()
if mode == "tls":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx)
    s.ehlo()
code, _ = s.mail("sender@example.com")
assert code == 250, code
code, _ = s.rcpt(rcpt)
assert code == 250, code
code, text = s.data(content)
print(code, text.decode())
s.quit()
`

// svGroupClients sends messages with go-smtp's client and Python's
// smtplib, in plaintext and over STARTTLS.
func svGroupClients(t *testing.T, bin string) {
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{Downstream: sink.Downstream()})
	t.Run("cases", func(t *testing.T) {
		for _, tls := range []bool{false, true} {
			suffix := ""
			if tls {
				suffix = "_starttls"
			}
			t.Run("gosmtp"+suffix, func(t *testing.T) {
				t.Parallel()
				svGoSMTP(t, s, sink, tls)
			})
			t.Run("python"+suffix, func(t *testing.T) {
				t.Parallel()
				svPythonSend(t, s, sink, tls)
			})
		}
	})
	s.waitQueueEmpty(t)
	s.stop(t)
}

// svGoSMTP sends with go-smtp's client, BODY=8BITMIME and SIZE=.
func svGoSMTP(t *testing.T, s *svSluice, sink *svSink, tls bool) {
	rcpt, proto := "gosmtp@example.org", "ESMTP"
	if tls {
		rcpt, proto = "gosmtp-tls@example.org", "ESMTPS"
	}
	content := svCRLF(strings.Join(svMessage(rcpt, "go-smtp "+proto, "caf\xc3\xa9", ".dot", "end"), "\n") + "\n")
	// go-smtp greets as "localhost" before STARTTLS, and Hello cannot
	// follow the STARTTLS it does at dial time.
	helo := "localhost"
	var c *smtp.Client
	var err error
	if tls {
		c, err = smtp.DialStartTLS(s.Addr, &cryptotls.Config{InsecureSkipVerify: true})
	} else if c, err = smtp.Dial(s.Addr); err == nil {
		helo = "gosmtp.client.test"
		err = c.Hello(helo)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if size, ok := c.MaxMessageSize(); !ok || size != svDefaultSize {
		t.Errorf("go-smtp sees SIZE %d (%v), want %d", size, ok, svDefaultSize)
	}
	if err := c.Mail("sender@example.com", &smtp.MailOptions{Body: smtp.Body8BitMIME, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^2\.0\.0 Ok: queued as ([0-9a-f]{16})$`).FindStringSubmatch(resp.StatusText)
	if m == nil {
		t.Fatalf("go-smtp DATA reply text %q, want \"2.0.0 Ok: queued as ID\"", resp.StatusText)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	got := sink.waitOne(t, rcpt)
	svCheckRelayed(t, got, svReceived{Helo: helo, Name: "unknown", Addr: "127.0.0.1", TLS: tls, Proto: proto, For: rcpt}, m[1], content)
	if want := "MAIL FROM:<sender@example.com> BODY=8BITMIME"; got.Mail != want {
		t.Errorf("downstream %q, want %q", got.Mail, want)
	}
}

// svPythonSend sends with Python's smtplib.
func svPythonSend(t *testing.T, s *svSluice, sink *svSink, tls bool) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("needs python3 (Debian package python3): not installed")
	}
	rcpt, mode, proto := "python@example.org", "plain", "ESMTP"
	if tls {
		rcpt, mode, proto = "python-tls@example.org", "tls", "ESMTPS"
	}
	content := svCRLF(strings.Join(svMessage(rcpt, "python "+proto, "from smtplib", ".dot", "end"), "\n") + "\n")
	path := filepath.Join(t.TempDir(), "py.eml")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), svWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", svPython, s.Addr, mode, rcpt, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 smtplib: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^250 2\.0\.0 Ok: queued as ([0-9a-f]{16})\n$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("smtplib DATA reply %q, want \"250 2.0.0 Ok: queued as ID\"", out)
	}
	got := sink.waitOne(t, rcpt)
	svCheckRelayed(t, got, svReceived{Helo: "python.client.test", Name: "unknown", Addr: "127.0.0.1", TLS: tls, Proto: proto, For: rcpt}, string(m[1]), content)
	if !bytes.Contains(got.Data, []byte("\r\n..dot\r\n")) {
		t.Errorf("relayed content lacks the dot-stuffed line")
	}
}
