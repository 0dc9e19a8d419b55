package smtpd

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func xclientOptions(t *testing.T, f *recFilter) Options {
	opts := baseOptions(newTestSpool(t))
	opts.XClientHosts = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	opts.XForwardHosts = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	if f != nil {
		opts.Filter = f
	}
	return opts
}

const ehloXReply = "250-mx.test\n250-PIPELINING\n250-SIZE 52428800\n250-8BITMIME\n250-SMTPUTF8\n" +
	"250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250-DSN\n" +
	"250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\n250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"

func TestXClientUnauthorized(t *testing.T) {
	ts := startServer(t, xclientOptions(t, nil))
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO client.test", ehloReply) // not advertised
	c.do("XCLIENT ADDR=127.0.0.1", "550 5.7.0 Insufficient authorization")
	c.do("XFORWARD ADDR=127.0.0.1", "550 5.7.0 Insufficient authorization")
	// Still judged as 127.0.0.2: no relay.
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@elsewhere.test>", "554 5.7.1 <b@elsewhere.test>: Relay access denied")
}

func TestXClient(t *testing.T) {
	f := &recFilter{macros: []string{"{client_addr}", "{client_name}", "{daemon_port}"}}
	ts := startServer(t, xclientOptions(t, f))
	c := dial(t, ts.addr, "127.0.0.1")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO proxy.test", ehloXReply)
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("XCLIENT NAME=x.example", "503 5.5.1 MAIL transaction in progress")
	c.do("RSET", "250 2.0.0 Ok")
	c.do("XCLIENT FOO=1", "501 5.5.4 Bad XCLIENT attribute: xclient: unsupported attribute: XCLIENT does not take FOO")
	c.do("XCLIENT NAME", "501 5.5.4 Syntax: XCLIENT attribute=value ...")
	c.do("XCLIENT NAME=mail.example.net ADDR=192.0.2.7 PORT=4242 HELO=helo.example.net PROTO=ESMTP DESTPORT=587", "220 mx.test ESMTP")
	c.do("MAIL FROM:<a@example.net>", "503 5.5.1 Send HELO or EHLO first")
	c.do("EHLO proxy.test", ehloXReply) // the real peer may still send XCLIENT
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	// Relay control judges the forwarded client, which is not trusted.
	c.do("RCPT TO:<b@elsewhere.test>", "554 5.7.1 <b@elsewhere.test>: Relay access denied")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: x\r\n\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q2")
	m := ts.spool.messages()[0]
	wantHdr := "Received: from helo.example.net (mail.example.net [192.0.2.7])\r\n" +
		"\tby mx.test (sluice) with ESMTP id Q2\r\n\tfor <b@example.org>; Sat, 14 Mar 2026 15:09:26 +0000\r\nSubject: x\r\n\r\n"
	if string(m.Header) != wantHdr {
		t.Fatalf("header\n got %q\nwant %q", m.Header, wantHdr)
	}
	if m.Client.ClientName != "mail.example.net" || m.Client.ClientAddr.String() != "192.0.2.7:4242" || m.Client.HELO != "helo.example.net" {
		t.Fatalf("client %+v", m.Client)
	}
	c.do("QUIT", "221 2.0.0 Bye")
	want := []string{
		"open",
		"connect [127.0.0.1] 127.0.0.1:" + portOf(t, c) + " {client_addr}=127.0.0.1 {client_name}=unknown {daemon_port}=" + ts.port(t),
		"helo proxy.test {client_addr}=127.0.0.1 {client_name}=unknown {daemon_port}=" + ts.port(t),
		"mail <a@example.net>  {client_addr}=127.0.0.1 {client_name}=unknown {daemon_port}=" + ts.port(t),
		"abort",
		"close",
		"open",
		"connect mail.example.net 192.0.2.7:4242 {client_addr}=192.0.2.7 {client_name}=mail.example.net {daemon_port}=587",
		"helo helo.example.net {client_addr}=192.0.2.7 {client_name}=mail.example.net {daemon_port}=587",
		"mail <a@example.net>  {client_addr}=192.0.2.7 {client_name}=mail.example.net {daemon_port}=587",
		"rcpt <b@example.org> {client_addr}=192.0.2.7 {client_name}=mail.example.net {daemon_port}=587",
		"data {client_addr}=192.0.2.7 {client_name}=mail.example.net {daemon_port}=587",
		"header Subject:x", "eoh",
		"eom {client_addr}=192.0.2.7 {client_name}=mail.example.net {daemon_port}=587",
		"close",
	}
	waitEvents(t, f, len(want))
	if got := f.log(); !reflect.DeepEqual(got, want) {
		t.Fatalf("filter saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestXForward(t *testing.T) {
	ts := startServer(t, xclientOptions(t, nil))
	c := dial(t, ts.addr, "127.0.0.1")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO proxy.test", ehloXReply)
	c.do("XFORWARD NAME=fwd.example ADDR=IPV6:2001:db8::9 PORT=25", "250 2.0.0 Ok")
	c.do("XFORWARD PROTO=ESMTPS HELO=fwd-helo.example IDENT=UP123 SOURCE=REMOTE", "250 2.0.0 Ok")
	c.do("XFORWARD LOGIN=ann", "501 5.5.4 Bad XFORWARD attribute: xclient: unsupported attribute: XFORWARD does not take LOGIN")
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: x\r\n\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatal(got)
	}
	m := ts.spool.messages()[0]
	wantHdr := "Received: from fwd-helo.example (fwd.example [IPv6:2001:db8::9])\r\n" +
		"\tby mx.test (sluice) with ESMTPS id Q1\r\n\tfor <b@example.org>; Sat, 14 Mar 2026 15:09:26 +0000\r\nSubject: x\r\n\r\n"
	if string(m.Header) != wantHdr {
		t.Fatalf("header\n got %q\nwant %q", m.Header, wantHdr)
	}
	// XFORWARD is for one transaction: the next one is the proxy's.
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: y\r\n\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q2" {
		t.Fatal(got)
	}
	if h := string(ts.spool.messages()[1].Header); !strings.HasPrefix(h, "Received: from proxy.test (unknown [127.0.0.1])\r\n\tby mx.test (sluice) with ESMTP id Q2") {
		t.Fatalf("second header %q", h)
	}
}
