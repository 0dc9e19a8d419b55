package test

import (
	"bytes"
	"testing"
)

// TestFilterDMARC runs the real `sluice serve` with [filters.spf]
// (fail_action = "tag"), [filters.dkim] and [filters.dmarc] asking a
// loopback DNS server, loopback not skipped. A message From example.com,
// whose DMARC record is p=reject, sent with an envelope sender whose SPF
// is "-all" and no DKIM signature fails DMARC: with enforce = true it gets
// 550 5.7.1 at the end of DATA; with enforce = false it is relayed with
// dmarc=fail on top of dkim's and spf's fields.
func TestFilterDMARC(t *testing.T) {
	bin := svBuildSluice(t)
	resolver := spfDNS(t, map[string]string{
		"example.com":        "v=spf1 -all",
		"_dmarc.example.com": "v=DMARC1; p=reject",
	})
	extra := func(enforce string) string {
		return `[filters.spf]
fail_action = "tag"
skip_networks = []
timeout = "5s"
resolver = "` + resolver + `"
[filters.dkim]
timeout = "5s"
resolver = "` + resolver + `"
[filters.dmarc]
enforce = ` + enforce + `
skip_networks = []
timeout = "5s"
resolver = "` + resolver + `"
`
	}
	content := svCRLF("From: Alice <alice@example.com>\nSubject: dmarc\n\nbody\n")

	t.Run("enforce", func(t *testing.T) {
		sink := svStartSink(t)
		s := svStart(t, bin, svConfig{Downstream: sink.Downstream(), Extra: extra("true")})
		c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
		c.cmd("MAIL FROM:<alice@example.com>", "250 2.1.0 Ok")
		c.cmd("RCPT TO:<dmarc-refused@example.net>", "250 2.1.5 Ok")
		c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
		c.write(string(svStuff(content)) + ".\r\n")
		c.expect("550 5.7.1 Rejected by the DMARC policy of example.com")
		c.quit()
		s.stop(t)
		if got := sink.to("dmarc-refused@example.net"); len(got) != 0 {
			t.Errorf("a message failing DMARC p=reject was relayed: %v", got)
		}
	})

	t.Run("tag", func(t *testing.T) {
		sink := svStartSink(t)
		s := svStart(t, bin, svConfig{Downstream: sink.Downstream(), Extra: extra("false")})
		c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
		c.send("alice@example.com", []string{"dmarc-tagged@example.net"}, content)
		c.quit()
		m := sink.waitOne(t, "dmarc-tagged@example.net")
		want := "\r\nAuthentication-Results: sluice.test;\r\n\tdmarc=fail (p=reject dis=none) header.from=example.com\r\n" +
			"Authentication-Results: sluice.test;\r\n\tdkim=none\r\n" +
			"Received-SPF: fail (sluice.test: domain of alice@example.com does not\r\n" +
			"\tdesignate 127.0.0.1 as permitted sender) client-ip=127.0.0.1;\r\n" +
			"\tenvelope-from=\"alice@example.com\"; helo=client.test;\r\n" +
			"\treceiver=sluice.test; identity=mailfrom\r\n" +
			"From: Alice <alice@example.com>\r\nSubject: dmarc\r\n\r\nbody\r\n"
		i := bytes.Index(m.Data, []byte("\r\nAuthentication-Results: "))
		if !bytes.HasPrefix(m.Data, []byte("Received: ")) || i < 0 || string(m.Data[i:]) != want {
			t.Errorf("delivered content\n%q\nwant it to end with\n%q", m.Data, want)
		}
		s.stop(t)
	})
}
