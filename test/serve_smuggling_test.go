package test

import (
	"fmt"
	"strings"
	"testing"
)

// svBareReject is sluice's reply to content with a bare CR or LF under
// bare_lf = "reject".
const svBareReject = "550 5.6.0 Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)"

// svSmuggle is one fake end of data. DATA is the content sluice keeps
// under bare_lf = "normalize" in place of "first part" SEQ "MAIL FROM...":
// only CRLF "." CRLF ends DATA, a dot at the start of a CRLF line is
// dot-stuffing (RFC 5321 §4.5.2) and goes, and each bare CR or LF becomes
// CRLF. BDAT content has no dot-stuffing: every sequence becomes
// CRLF "." CRLF.
var svSmuggles = []struct {
	name, seq, data string
}{
	{"lf_dot_lf", "\n.\n", "\r\n.\r\n"},
	{"cr_dot_cr", "\r.\r", "\r\n.\r\n"},
	{"lf_dot_crlf", "\n.\r\n", "\r\n.\r\n"},
	{"crlf_dot_lf", "\r\n.\n", "\r\n\r\n"},
	{"crlf_dot_cr", "\r\n.\r", "\r\n\r\n"},
}

// svGroupSmuggling sends, for each fake end of data, a message whose
// content goes on with a second MAIL FROM, RCPT TO and DATA (SMTP
// smuggling), to a sluice with bare_lf = "reject" and to one with
// "normalize", by DATA and by BDAT. The downstream must receive exactly
// one message (normalize) or none (reject), never the smuggled one, and
// never a bare CR or LF.
func svGroupSmuggling(t *testing.T, bin string) {
	for _, policy := range []string{"reject", "normalize"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			sink := svStartSink(t)
			s := svStart(t, bin, svConfig{
				SMTP:       []string{fmt.Sprintf("bare_lf = %q", policy)},
				Downstream: sink.Downstream(),
			})
			t.Run("cases", func(t *testing.T) {
				for i, sm := range svSmuggles {
					for _, bdat := range []bool{false, true} {
						name := sm.name + "/data"
						if bdat {
							name = sm.name + "/bdat"
						}
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							svSmuggle(t, s, sink, policy, fmt.Sprintf("%d-%t", i, bdat), sm.seq, sm.data, bdat)
						})
					}
				}
			})
			s.waitQueueEmpty(t)
			for _, c := range sink.commands() {
				if strings.Contains(c, "evil@") || strings.Contains(c, "victim-") {
					t.Errorf("the downstream received the smuggled command %q", c)
				}
			}
			s.stop(t)
		})
	}
}

// svSmuggle runs one case; tag makes its addresses unique.
func svSmuggle(t *testing.T, s *svSluice, sink *svSink, policy, tag, seq, normalized string, bdat bool) {
	rcpt, control := "smuggle-"+tag+"@example.org", "control-"+tag+"@example.org"
	head := "From: <sender@example.com>\r\nTo: <" + rcpt + ">\r\nSubject: smuggle " + tag + "\r\n\r\nfirst part"
	smuggled := "MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim-" + tag + "@example.org>\r\nDATA\r\n" +
		"From: <evil@example.com>\r\nSubject: smuggled\r\n\r\nsecond part\r\n"
	c := svOpen(t, s.Addr, "", "smuggler.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	content := head + seq + smuggled
	if bdat {
		c.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(content), content))
		normalized = "\r\n.\r\n"
	} else {
		c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
		c.write(content + ".\r\n")
	}
	var id string
	if policy == "reject" {
		c.expect(svBareReject)
	} else {
		id = c.match(svQueuedRE)
	}
	// A control message on the same connection: once it has arrived, so
	// would have anything queued before it.
	clean := svCRLF("From: <sender@example.com>\nTo: <" + control + ">\nSubject: control\n\nclean\n")
	controlID := c.send("sender@example.com", []string{control}, clean)
	c.quit()
	cm := sink.waitOne(t, control)
	svCheckRelayed(t, cm, svReceived{Helo: "smuggler.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: control}, controlID, clean)
	if policy == "reject" {
		if got := sink.to(rcpt); len(got) != 0 {
			t.Fatalf("bare_lf = reject: the downstream got %d messages for <%s>, want none", len(got), rcpt)
		}
		return
	}
	m := sink.waitOne(t, rcpt)
	want := []byte(head + normalized + smuggled)
	svCheckRelayed(t, m, svReceived{Helo: "smuggler.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, want)
	if m.Mail != "MAIL FROM:<sender@example.com>" || len(m.Rcpts) != 1 {
		t.Errorf("downstream envelope %q %q, want the sender's, one recipient", m.Mail, m.Rcpts)
	}
}
