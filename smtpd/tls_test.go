package smtpd

import (
	"bufio"
	"context"
	cryptotls "crypto/tls"
	"errors"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	sluicetls "github.com/sluice-mta/sluice/tls"
)

// mapAuth is an Authenticator over a map; the user "broken" fails.
type mapAuth map[string]string

func (m mapAuth) Authenticate(ctx context.Context, user, pass string) (bool, error) {
	if user == "broken" {
		return false, errors.New("backend down")
	}
	p, ok := m[user]
	return ok && p == pass, nil
}

func tlsOptions(t *testing.T) Options {
	certs, err := sluicetls.NewServerCertificates(sluicetls.ServerCertOptions{Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	opts := baseOptions(newTestSpool(t))
	opts.TLSConfig = sluicetls.ServerConfig(certs)
	opts.Auth = mapAuth{"ann": "secret"}
	return opts
}

// startTLS upgrades c after the server's 220.
func (c *client) startTLS() *cryptotls.Conn {
	c.t.Helper()
	tc := cryptotls.Client(c.c, &cryptotls.Config{InsecureSkipVerify: true, ServerName: "mx.test"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.c = tc
	c.tp = textproto.NewReader(bufio.NewReader(tc))
	return tc
}

const ehloTLSReply = "250-mx.test\n250-PIPELINING\n250-SIZE 52428800\n250-8BITMIME\n250-SMTPUTF8\n" +
	"250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250-DSN\n250 AUTH PLAIN LOGIN"

func TestStartTLSDropsPipelinedPlaintext(t *testing.T) {
	ts := startServer(t, tlsOptions(t))
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO client.test", strings.Replace(ehloReply, "250 DSN", "250-DSN\n250 STARTTLS", 1))
	c.do("AUTH PLAIN AGFubgBzZWNyZXQ=", "538 5.7.11 Encryption required for requested authentication mechanism")
	// A man in the middle appends commands to the STARTTLS packet.
	c.send("STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@example.net>\r\n")
	c.expect("220 2.0.0 Ready to start TLS")
	c.startTLS()
	// Nothing of the plaintext was kept: the session starts over.
	c.do("MAIL FROM:<a@example.net>", "503 5.5.1 Send HELO or EHLO first")
	c.do("EHLO client.test", ehloTLSReply)
	c.do("STARTTLS", "503 5.5.1 TLS already active")
	if !strings.Contains(ts.logs.String(), "dropped plaintext pipelined after STARTTLS") {
		t.Error("the dropped plaintext was not logged")
	}
}

func TestAuth(t *testing.T) {
	ts := startServer(t, tlsOptions(t))
	c := dial(t, ts.addr, "127.0.0.2") // not trusted: relay needs AUTH
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("STARTTLS", "220 2.0.0 Ready to start TLS")
	c.startTLS()
	c.do("AUTH PLAIN AGFubgBzZWNyZXQ=", "503 5.5.1 Send EHLO first")
	c.do("EHLO client.test", ehloTLSReply)
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@elsewhere.test>", "554 5.7.1 <b@elsewhere.test>: Relay access denied")
	c.do("AUTH PLAIN AGFubgBzZWNyZXQ=", "503 5.5.1 MAIL transaction in progress")
	c.do("RSET", "250 2.0.0 Ok")
	c.do("AUTH CRAM-MD5", "504 5.5.4 Unsupported authentication mechanism")
	c.do("AUTH PLAIN AGFubgB3cm9uZw==", "535 5.7.8 Authentication credentials invalid") // ann/wrong
	c.do("AUTH PLAIN AGJyb2tlbgB4", "454 4.7.0 Temporary authentication failure")       // broken/x
	c.do("AUTH PLAIN !!!", "501 5.5.2 Invalid base64 data")
	c.do("AUTH PLAIN", "334 ")
	c.do("*", "501 5.0.0 Authentication cancelled")
	c.do("AUTH LOGIN", "334 VXNlcm5hbWU6")
	c.do("YW5u", "334 UGFzc3dvcmQ6")
	c.do("c2VjcmV0", "235 2.7.0 Authentication successful")
	c.do("AUTH PLAIN AGFubgBzZWNyZXQ=", "503 5.5.1 Already authenticated")
	c.do("EHLO client.test", ehloReply) // neither STARTTLS nor AUTH any more
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@elsewhere.test>", "250 2.1.5 Ok")
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: auth\r\n\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q2")
	m := ts.spool.messages()[0]
	if m.Client.AuthLogin != "ann" || m.Client.AuthMech != "LOGIN" || m.Client.Proto != "ESMTPSA" {
		t.Fatalf("client %+v", m.Client)
	}
	wantPrefix := "Received: from client.test (unknown [127.0.0.2])\r\n\t(using TLSv1.3 with cipher "
	if !strings.HasPrefix(string(m.Header), wantPrefix) || !strings.Contains(string(m.Header), " bits))\r\n\tby mx.test (sluice) with ESMTPSA id Q2\r\n") {
		t.Fatalf("header %q", m.Header)
	}
}

// TestGoSMTPClient runs a normal flow with go-smtp's client: STARTTLS,
// AUTH PLAIN, 8BITMIME and SIZE, DSN parameters.
func TestGoSMTPClient(t *testing.T) {
	ts := startServer(t, tlsOptions(t))
	c, err := smtp.DialStartTLS(ts.addr, &cryptotls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.SupportsAuth("PLAIN") {
		t.Fatal("AUTH PLAIN not offered after STARTTLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "ann", "secret")); err != nil {
		t.Fatal(err)
	}
	body := "Subject: caf\xc3\xa9\r\n\r\nHello\r\n.leading dot\r\n"
	opts := &smtp.MailOptions{Body: smtp.Body8BitMIME, Size: int64(len(body)), Return: smtp.DSNReturnHeaders, EnvelopeID: "env+1"}
	if err := c.Mail("a@example.net", opts); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.org", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure}}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil || resp.StatusText != "2.0.0 Ok: queued as Q1" {
		t.Fatalf("end of data: %+v %v", resp, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	m := ts.spool.messages()[0]
	if string(m.Body) != "Hello\r\n.leading dot\r\n" {
		t.Fatalf("body %q", m.Body)
	}
	if p := m.Envelope.From.ParamString(); p != "BODY=8BITMIME SIZE="+strconv.Itoa(len(body))+" RET=HDRS ENVID=env+2B1" {
		t.Fatalf("MAIL parameters kept as %q", p)
	}
	if p := m.Envelope.Recipients[0].ParamString(); p != "NOTIFY=FAILURE" {
		t.Fatalf("RCPT parameters kept as %q", p)
	}
	if !strings.Contains(string(m.Header), "with ESMTPSA id Q1\r\n") {
		t.Fatalf("header %q", m.Header)
	}
}

func TestTLSHandshakeFailureEndsSession(t *testing.T) {
	opts := tlsOptions(t)
	opts.Timeouts.TLSHandshake = time.Second
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("STARTTLS", "220 2.0.0 Ready to start TLS")
	c.send("this is not a TLS client hello\r\n")
	c.closed()
}
