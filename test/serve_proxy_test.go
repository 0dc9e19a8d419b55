package test

import (
	"strings"
	"testing"
)

// svGroupProxy runs sluice serve behind the PROXY protocol: a connection
// from the trusted proxy (127.0.0.1) starts with a v1 header, and the
// client it names is the client for relay control and the Received field;
// a connection from elsewhere is served as it is.
func svGroupProxy(t *testing.T, bin string) {
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		SMTP:       []string{`proxy_networks = ["127.0.0.1/32"]`, `trusted_networks = ["127.0.0.1/32"]`, `relay_domains = ["example.org"]`},
		Downstream: sink.Downstream(),
	})
	c := svDial(t, s.Addr, "127.0.0.1")
	c.write("PROXY TCP4 192.0.2.9 127.0.0.1 40001 25\r\n")
	c.expect(svGreeting)
	c.cmd("EHLO proxied.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<someone@unlisted.test>", svDenied("someone@unlisted.test"))
	c.cmd("RSET", "250 2.0.0 Ok")
	rcpt := "proxied@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "through a proxy", "hello"), "\n") + "\n")
	id := c.send("sender@example.com", []string{rcpt}, content)
	c.quit()
	svCheckRelayed(t, sink.waitOne(t, rcpt), svReceived{Helo: "proxied.test", Name: "unknown", Addr: "192.0.2.9", Proto: "ESMTP", For: rcpt}, id, content)

	direct := svOpen(t, s.Addr, svUntrusted, "direct.test", svEHLO(svDefaultSize, svExtTLS))
	direct.quit()
	s.waitQueueEmpty(t)
	s.stop(t)
}
